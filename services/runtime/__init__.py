"""What every service shares: settings, the error tree, metrics, the Kafka edges and the stage runner."""
