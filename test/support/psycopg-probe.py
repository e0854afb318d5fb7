"""Drives Lakegate's Postgres protocol with psycopg2 and prints what it saw as one JSON object."""
import json
import sys

import psycopg2

port, password = sys.argv[1], sys.argv[2]
out = {}
connection = psycopg2.connect(host="127.0.0.1", port=port, user="acme", password=password, dbname="lakegate")
try:
    cursor = connection.cursor()
    # psycopg2 quotes parameters into the text itself; the quoting must hold.
    cursor.execute("SELECT id, name, day, amount FROM events WHERE id = %s OR name = %s ORDER BY id", (5, "x' OR '1'='1"))
    out["rows"] = [[row[0], row[1], row[2].isoformat(), str(row[3])] for row in cursor.fetchall()]
    out["types"] = [column.type_code for column in cursor.description]
    # A named cursor is a server-side cursor: DECLARE, FETCH FORWARD itersize, CLOSE.
    named = connection.cursor(name="events_cursor")
    named.itersize = 2000
    named.execute("SELECT id FROM events WHERE id < 5000")
    total = 0
    count = 0
    for (value,) in named:
        total += value
        count += 1
    out["named"] = [count, total]
    named.close()
    connection.commit()
    cursor.execute("SELECT * FROM nope")
except psycopg2.Error as error:
    out["error"] = error.pgcode
finally:
    connection.close()
print(json.dumps(out))
