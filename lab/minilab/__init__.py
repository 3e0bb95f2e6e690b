"""The mini-container lab: hosts to run scenarios on, and the root filesystems they use."""
