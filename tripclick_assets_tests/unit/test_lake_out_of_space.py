"""A write refused for lack of room is recognised however it arrives (errno, a wrapped cause, a JVM trace)."""

import errno

from tripclick_assets.lib.lake.store import out_of_space


def wrapped(cause: BaseException) -> RuntimeError:
    try:
        try:
            raise cause
        except BaseException as exc:
            raise RuntimeError("the step failed") from exc
    except RuntimeError as outer:
        return outer


def test_out_of_space_from_the_errno_a_cause_or_a_stack_trace_in_the_text():
    assert out_of_space(OSError(errno.ENOSPC, "No space left on device")) == "No space left on device"
    assert out_of_space(OSError(errno.EFBIG, "File too large")) == "File too large"  # RLIMIT_FSIZE
    assert out_of_space(wrapped(OSError(errno.EDQUOT, "Disk quota exceeded"))) == "Disk quota exceeded"
    jvm = RuntimeError("An error occurred while calling o958.parquet.\n: org.apache.spark.SparkException: "
                       "[TASK_WRITE_FAILED] Task failed while writing rows to file:/lake/silver/data/v\n"
                       "Caused by: java.io.IOException: No space left on device\n\tat java.base/...")
    assert out_of_space(wrapped(jvm)) == "No space left on device"


def test_other_errors_are_not_out_of_space():
    assert out_of_space(OSError(errno.EACCES, "Permission denied")) is None
    assert out_of_space(wrapped(ValueError("bad value"))) is None
