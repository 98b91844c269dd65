/**
 * The SQL of a folder's index (index_db.ts): its tables and the statements FolderIndex
 * runs, by name.
 */

export const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS msg (
  uid INTEGER PRIMARY KEY, base TEXT NOT NULL, sub INTEGER NOT NULL, name TEXT,
  flags TEXT NOT NULL, size INTEGER NOT NULL, date INTEGER, modseq INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS vanished (uid INTEGER PRIMARY KEY, modseq INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS cache (
  base TEXT PRIMARY KEY, size INTEGER NOT NULL, crlf INTEGER NOT NULL, structure TEXT,
  envelope TEXT, envelope_utf8 TEXT, body TEXT, body_utf8 TEXT,
  bodystructure TEXT, bodystructure_utf8 TEXT) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS keys (base TEXT PRIMARY KEY, v TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS saved (uid INTEGER PRIMARY KEY, at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS summary (k INTEGER PRIMARY KEY, v BLOB NOT NULL);
`;

/**
 * Rows written or updated per statement by the bulk paths (IndexCaches.runChunked: key
 * texts, keysPutAll; message rows, FolderIndex.putMany and setFlagsMany): node:sqlite's
 * `run()` leaves 64 bytes in V8's old space per call (Deno 2.9, measured with node:v8's
 * heap spaces), so a bulk key fill's 100,000 single-row writes were 6 MB of old-space
 * garbage on their own, a first SELECT's 100,000 rows 6 MB and a STORE's 50,000 flag
 * changes 3 MB; one run per 32 rows leaves about 1 byte a row.
 */
export const ROWS_CHUNK = 32;

/**
 * The statements, prepared on first use: preparing all of them cost every open (the
 * SELECT after a restart) half a millisecond, and most opens use a few.
 */
export const SQL = {
  meta: "SELECT k, v FROM meta",
  setMeta: "INSERT OR REPLACE INTO meta (k, v) VALUES (?, ?)",
  metaGet: "SELECT v FROM meta WHERE k = ?",
  rowsAfter: "SELECT uid, base, sub, name, flags, size, date, modseq FROM msg WHERE uid > ? " +
    "ORDER BY uid LIMIT ?",
  put: "INSERT OR REPLACE INTO msg VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
  flags: "UPDATE msg SET sub = ?, name = ?, flags = ?, modseq = ? WHERE uid = ?",
  // ROWS_CHUNK rows of put and of flags in one statement (FolderIndex.putMany,
  // setFlagsMany); a UID appears once in a chunk (SQLite applies one row of a join).
  putChunk: "INSERT OR REPLACE INTO msg VALUES " +
    Array(ROWS_CHUNK).fill("(?, ?, ?, ?, ?, ?, ?, ?)").join(", "),
  flagsChunk: "UPDATE msg SET sub = v.column1, name = v.column2, flags = v.column3, " +
    "modseq = v.column4 FROM (VALUES " + Array(ROWS_CHUNK).fill("(?, ?, ?, ?, ?)").join(", ") +
    ") AS v WHERE msg.uid = v.column5",
  date: "UPDATE msg SET date = ? WHERE uid = ?",
  del: "DELETE FROM msg WHERE uid = ?",
  vanish: "INSERT OR REPLACE INTO vanished (uid, modseq) VALUES (?, ?)",
  vanishedSince: "SELECT uid FROM vanished WHERE modseq > ? ORDER BY uid",
  cacheGet: "SELECT * FROM cache WHERE base = ?",
  cachePut: "INSERT OR REPLACE INTO cache VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
  cacheDel: "DELETE FROM cache WHERE base = ?",
  keysGet: "SELECT v FROM keys WHERE base = ?",
  // Each message row in UID order, its keys found by base name (the keys' key).
  keysByUid: "SELECT m.uid, k.v FROM msg m JOIN keys k ON k.base = m.base WHERE m.uid > ? " +
    "ORDER BY m.uid LIMIT ?",
  // Stored keys of one version (`prefix`: how its text starts), a field of each, a page
  // of them by UID.
  keysField: "SELECT m.uid, json_extract(k.v, ?) FROM msg m JOIN keys k ON k.base = m.base " +
    "WHERE m.uid > ? AND substr(k.v, 1, ?) = ? ORDER BY m.uid LIMIT ?",
  keysMissing: "SELECT m.uid FROM msg m LEFT JOIN keys k ON k.base = m.base WHERE m.uid >= ? " +
    "AND (k.v IS NULL OR substr(k.v, 1, ?) <> ?) ORDER BY m.uid LIMIT ?",
  // A page of the stored keys (by base name) and of the message rows (by UID) counted:
  // the orphan check counts both tables a page per turn (keysDropOrphans).
  keysPage: "SELECT count(*) AS n, max(base) AS last FROM " +
    "(SELECT base FROM keys WHERE base > ? ORDER BY base LIMIT ?)",
  msgPage: "SELECT count(*) AS n, max(uid) AS last FROM " +
    "(SELECT uid FROM msg WHERE uid > ? ORDER BY uid LIMIT ?)",
  keysOrphans: "DELETE FROM keys WHERE base NOT IN (SELECT base FROM msg)",
  keysPut: "INSERT OR REPLACE INTO keys VALUES (?, ?)",
  // ROWS_CHUNK key texts in one statement (IndexCaches.keysPutAll).
  keysPutChunk: "INSERT OR REPLACE INTO keys VALUES " + Array(ROWS_CHUNK).fill("(?, ?)").join(", "),
  keysDel: "DELETE FROM keys WHERE base = ?",
  savedPut: "INSERT OR REPLACE INTO saved (uid, at) VALUES (?, ?)",
  savedGet: "SELECT at FROM saved WHERE uid = ?",
  savedDel: "DELETE FROM saved WHERE uid = ?",
  summaryGet: "SELECT v FROM summary WHERE k = 1",
  summaryPut: "INSERT OR REPLACE INTO summary (k, v) VALUES (1, ?)",
  keysBlobGet: "SELECT v FROM summary WHERE k = 2",
  keysBlobPut: "INSERT OR REPLACE INTO summary (k, v) VALUES (2, ?)",
};

/** Statements whose rows come as arrays: several times faster than objects for 100,000 rows. */
export const AS_ARRAYS = new Set<keyof typeof SQL>([
  "rowsAfter",
  "vanishedSince",
  "keysByUid",
  "keysField",
  "keysMissing",
]);
