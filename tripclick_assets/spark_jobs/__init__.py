"""Spark jobs. Each module has ``run(spark, params: XParams) -> XResult`` (the typed contracts of
:mod:`tripclick_assets.lib.spark.jobs`) and runs on its own under
``spark-submit path/to/module.py --params JSON`` (locally it is called in-process)."""
