"""Spark jobs. Each module has ``run(spark, params) -> dict`` and runs on its own under
``spark-submit path/to/module.py --params JSON`` (locally it is called in-process)."""
