"""Detection and counting metrics of predicted points, and the evaluation of a trained run."""
