"""The agent desk's queries and actions (坐席工作台), without Flask: who is waiting and why,
taking a caller, the wrap-up after the call, and the messages and callbacks agents own."""
