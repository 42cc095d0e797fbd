"""The call-log job: a batch of webhook events taken in (`events`: stored once, a poison
event parked as a dead letter) and what they set in motion (`follow_up`: tickets,
callbacks owed, a callback call's progress, the caller's language)."""
