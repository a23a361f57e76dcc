#!/usr/bin/python3
"""SQLAlchemy's session pattern on PostgreSQL: the anchor bench_pg is put against.

Session() + SELECT 1 + close() on a QueuePool engine (SQLAlchemy's default),
without and with pool_pre_ping, on the same server in the same run
(scripts/bench.sh). Debian's python3-sqlalchemy and python3-psycopg2.

    sqlalchemy_pg_session.py URL

Prints median microseconds per operation:
  sqlalchemy_session_select1_us
  sqlalchemy_session_select1_pre_ping_us
"""
import sys

from sqlalchemy import create_engine, text
from sqlalchemy.orm import sessionmaker

from sqlalchemy_session import median_us  # the same timing as the SQLite anchor


def session_select1(pre_ping):
    url = "postgresql+psycopg2://" + sys.argv[1].split("://", 1)[1]
    engine = create_engine(url, pool_size=1, pool_pre_ping=pre_ping)
    Session = sessionmaker(bind=engine)

    def operation():
        with Session() as session:
            session.execute(text("SELECT 1")).scalar()

    value = median_us(operation)
    engine.dispose()
    return value


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    print("sqlalchemy_session_select1_us           %10.1f" % session_select1(False))
    print("sqlalchemy_session_select1_pre_ping_us  %10.1f" % session_select1(True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
