"""Support tickets: threaded conversations between users and agents, with SLA timers, assignment, canned replies and satisfaction ratings."""
