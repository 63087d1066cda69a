"""A minimal Airflow DAG for the nightly job: one BashOperator running ``xds-nightly run``.

Exit code 3 (candidate not promoted) marks the task *skipped* instead of failed (``skip_on_exit_code``);
1 (failed) and 75 (another run holds the lock) fail it, and Airflow's retries rerun the same night, which
resumes from the failed step. Importable without Airflow installed (the test suite checks ``command``).
"""

from __future__ import annotations

import datetime

CONFIG = "/etc/xds/nightly.yaml"
NOT_PROMOTED_EXIT_CODE = 3


def command(config: str = CONFIG, night: str | None = None) -> str:
    """The shell command of the task; ``night`` defaults to the run date (Airflow's ``{{ ds }}``)."""
    return f"xds-nightly run --config {config}" + (f" --night {night}" if night else "")


try:
    from airflow import DAG
    from airflow.operators.bash import BashOperator
except ImportError:  # Airflow is not installed here: the module still imports (and documents the DAG)
    DAG = None

if DAG is not None:
    with DAG(dag_id="xds_nightly", schedule="0 2 * * *", start_date=datetime.datetime(2024, 1, 1), catchup=False,
             default_args={"retries": 2, "retry_delay": datetime.timedelta(minutes=20)}) as dag:
        BashOperator(task_id="retrain", bash_command=command(night="{{ ds }}"),
                     skip_on_exit_code=NOT_PROMOTED_EXIT_CODE, execution_timeout=datetime.timedelta(hours=10))
