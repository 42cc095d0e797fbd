"""The hotline without Twilio: `ivr call`, a phone on the terminal."""
