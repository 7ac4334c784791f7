"""Conversation records kept with consent, feedback on replies, training-data export and
learning from corrections. Plain library: it knows no bus, no stages and no sessions."""
