"""The `assistant` subcommands other than chat, one module per job."""
