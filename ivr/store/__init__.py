"""Where state lives: the SQL database and the link to Redis."""
