"""Training: the Trainer and its options, callbacks, loggers, and fitting a run (:func:`colorize.training.fit.train`)."""
