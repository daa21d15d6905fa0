"""EdgeFold desktop app: headless core (app.core), CLI (app.cli) and Qt GUI (app.ui)."""
