"""Files written for people: figures as HTML/CSV, the trace as JSON, the offline lecture pack."""
