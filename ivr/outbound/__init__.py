"""What leaves the hotline: callbacks owed and the worker asked to try them (`schedule`),
SMS (`sms`, an outbox), and the Twilio REST client they go through (`telephony`)."""
