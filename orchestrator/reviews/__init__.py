"""Review tasks: a run waiting at a human_review step, and the person who claims and decides it."""
