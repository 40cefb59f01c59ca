"""The county side's sync agent (issue 21): ``exchange-hub-agent`` push, pull, answer, run."""
