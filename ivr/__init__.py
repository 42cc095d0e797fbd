"""Property-management hotline: a Twilio-driven IVR with a call log kept by RQ workers."""
