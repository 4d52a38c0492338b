"""What every service shares: settings, the error tree, metrics, the Kafka edges and the stage runner.

Nothing in it knows any one service's logic: a service hands it a :class:`services.runtime.stage.Stage`."""
