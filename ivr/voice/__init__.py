"""The Twilio edge: signed webhooks in, TwiML out, events handed to the call log without
waiting.
"""
