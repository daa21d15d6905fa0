"""EdgeFold measurement scripts: speed, latency and accuracy of exported model packs."""
