#!/usr/bin/python3
"""Times the per-operation SQLAlchemy session pattern from the seed bug report.

The seed's fix opens a Session per database operation (`with get_db_session()
as db: ...`). This measures that pattern on a SQLite file with Debian's
python3-sqlalchemy, so bench_lease's numbers can be put against it on the
same machine in the same run (scripts/bench.sh does both).

    sqlalchemy_session.py [DB_FILE]

Prints median microseconds per operation for:
  session_open_close   Session(), SELECT 1, close()
  session_dedup_query  Session(), the seed's processed-notes IN query, close()
"""
import os
import statistics
import sys
import tempfile
import time

import sqlalchemy
from sqlalchemy import Column, Integer, String, UniqueConstraint, create_engine, text
from sqlalchemy.orm import declarative_base, sessionmaker

Base = declarative_base()


class ProcessedGranolaNote(Base):
    __tablename__ = "processed_granola_notes"
    id = Column(Integer, primary_key=True)
    note_id = Column(String, nullable=False)
    account_id = Column(String, nullable=False)
    __table_args__ = (UniqueConstraint("note_id", "account_id"),)


def median_us(operation, batches=41, batch=200):
    for _ in range(batch):  # warm up the engine's pool and statement caches
        operation()
    samples = []
    for _ in range(batches):
        start = time.perf_counter_ns()
        for _ in range(batch):
            operation()
        samples.append((time.perf_counter_ns() - start) / batch / 1000.0)
    return statistics.median(samples)


def main():
    if len(sys.argv) > 1:
        path = sys.argv[1]
        tmp = None
    else:
        tmp = tempfile.TemporaryDirectory()
        path = os.path.join(tmp.name, "bench.db")
    engine = create_engine(f"sqlite:///{path}")
    Base.metadata.create_all(engine)
    SessionLocal = sessionmaker(bind=engine)
    with SessionLocal() as db:
        db.add_all(ProcessedGranolaNote(note_id=f"n{i}", account_id="work") for i in range(100))
        db.commit()
    ids = [f"n{i}" for i in range(0, 200, 20)]

    def open_close():
        with SessionLocal() as db:
            db.execute(text("SELECT 1")).all()

    def dedup_query():
        with SessionLocal() as db:
            db.query(ProcessedGranolaNote.note_id).filter(
                ProcessedGranolaNote.note_id.in_(ids),
                ProcessedGranolaNote.account_id == "work").all()

    print(f"sqlalchemy_session: SQLAlchemy {sqlalchemy.__version__}, "
          f"engine pool {type(engine.pool).__name__}")
    print(f"session_open_close_us   {median_us(open_close):10.2f}")
    print(f"session_dedup_query_us  {median_us(dedup_query):10.2f}")
    engine.dispose()
    if tmp:
        tmp.cleanup()


if __name__ == "__main__":
    main()
