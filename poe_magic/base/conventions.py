"""Names the client and the bundled local server agree on (the server imports nothing else of poe_magic but base)."""

#: ``owned_by`` of the local server's fault and test-only bots (DropBot, SlowBot-1..8, ...): they answer
#: by name but lists a person picks from hide them unless asked (``models(all=True)``)
TEST_OWNER = "poe_magic-tests"
#: ``owned_by`` of the local server's demo bots (EchoBot, SlowBot, ToolBot, ...): listed after real models
LOCAL_OWNER = "poe_magic"
