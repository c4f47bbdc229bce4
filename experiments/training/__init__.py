"""Training: targets and random crops, the method registry, distributed runs and the loop."""
