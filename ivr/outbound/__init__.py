"""What the hotline sends: callbacks, SMS, and the Twilio REST client they go through."""
