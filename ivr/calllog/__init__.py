"""The call register: the webhooks' way in (`sink`, with `spool` for when Redis is away),
events written by the workers (`write`), who is waiting for a person (`waiting`), and the
queries and timelines staff pages read."""
