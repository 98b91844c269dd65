/**
 * SPEC §12 configuration keys (Directory, NodeName, Nodes, PortCluster, ClusterSecret),
 * home nodes (`homeOf`) and the directory's change application, without a database.
 */
import { deepStrictEqual, equal, match, ok, throws } from "node:assert/strict";
import { parsePostgresUrl, redactDirectoryUrl } from "../src/config/cluster.ts";
import { convertClassic } from "../src/config/convert.ts";
import { formatConfig } from "../src/config/format.ts";
import { ConfigError, parseConfigText } from "../src/config/load.ts";
import { homeOf } from "../src/cluster/home.ts";
import { DirectoryState } from "../src/directory/state.ts";
import type { DirectoryContent } from "../src/directory/changes.ts";
import { userRecord } from "./helpers/users.ts";

const TLS = 'TLSCert = "/x/cert.pem"\nTLSKey = "/x/key.pem"\n';
const CLUSTER = 'Directory = "postgres://mail:s3cret@db.example.net:5432/extremail"\n' +
  'NodeName = "MX1"\nNodes = { mx1 = "10.0.0.1:2525", mx2 = "10.0.0.2:2525" }\n' +
  `PortCluster = 2525\nClusterSecret = "0123456789abcdef0123"\n${TLS}`;

function problemsOf(toml: string): string {
  try {
    parseConfigText(`# test\n${toml}`, "t.toml", { baseDir: null });
  } catch (e) {
    if (e instanceof ConfigError) return e.problems.join("\n");
    throw e;
  }
  throw new Error("no ConfigError");
}

Deno.test("cluster config: a valid three-key cluster loads; names are lower-cased", () => {
  const config = parseConfigText(CLUSTER, "t.toml", { baseDir: null });
  equal(config.NodeName, "mx1");
  deepStrictEqual(config.Nodes, { mx1: "10.0.0.1:2525", mx2: "10.0.0.2:2525" });
  equal(config.PortCluster, 2525);
  // check-conf: the database password and ClusterSecret are hidden, the rest loads back.
  const shown = formatConfig(config);
  ok(shown.includes('Directory = "postgres://mail:********@db.example.net:5432/extremail"'));
  ok(shown.includes('ClusterSecret = "********"'));
  ok(shown.includes('Nodes = { mx1 = "10.0.0.1:2525", mx2 = "10.0.0.2:2525" }'));
  ok(!shown.includes("s3cret") && !shown.includes("0123456789abcdef"));
  deepStrictEqual(
    parseConfigText(formatConfig(config, { showSecrets: true }), "t.toml", { baseDir: null }),
    config,
  );
});

Deno.test("cluster config: every mistake names its key and the fix", () => {
  const cases: [string, RegExp][] = [
    [
      'Directory = "mysql://x@y/z"',
      /Directory = "mysql:\/\/x@y\/z": must be "sqlite" or a PostgreSQL URL/,
    ],
    [
      'Directory = "postgres://u:p@host"',
      /Directory = "postgres:\/\/u:\*{8}@host": is not a PostgreSQL URL/,
    ],
    ['Directory = "postgres://u:p@h:99999/db"', /host "h:99999": the port must be 1..65535/],
    ['NodeName = "mx 1"', /NodeName = "mx 1": "mx 1" is not a node name/],
    ['Nodes = { mx1 = "10.0.0.1" }', /Nodes = .*mx1 = "10.0.0.1": the port is missing/],
    ['Nodes = ["mx1"]', /Nodes = \["mx1"\]: must be a table of strings/],
    ['Nodes = { mx1 = "a:1", MX1 = "b:2" }', /Nodes = .*names mx1 twice/],
    [
      `Directory = "postgres://u@h/d"\nNodeName = "mx3"\nNodes = { mx1 = "a:1" }\nPortCluster = 2\nClusterSecret = "0123456789abcdef"\n${TLS}`,
      /NodeName = "mx3": is not one of Nodes \(mx1\)/,
    ],
    [
      `Directory = "postgres://u@h/d"\nNodes = { mx1 = "a:1" }\nPortCluster = 2\nClusterSecret = "0123456789abcdef"\n${TLS}`,
      /NodeName = "": is empty but Nodes lists mx1/,
    ],
    [
      `NodeName = "mx1"\nNodes = { mx1 = "a:1" }\nPortCluster = 2\nClusterSecret = "0123456789abcdef"\n${TLS}`,
      /Nodes = .*Directory = "sqlite" is one machine's/,
    ],
    [`PortCluster = 2525\n${TLS}`, /ClusterSecret = "": is empty while PortCluster is set/],
    ['PortCluster = 2525\nClusterSecret = "0123456789abcdef"', /PortCluster = 2525: needs TLSCert/],
    ['ClusterSecret = "short"', /ClusterSecret = \*{8}: must be at least 16 characters/],
    [
      `PortCluster = 25\nClusterSecret = "0123456789abcdef"\n${TLS}`,
      /PortCluster = 25: already used by PortSMTP/,
    ],
  ];
  for (const [toml, expected] of cases) {
    const message = problemsOf(toml);
    match(message, expected, toml);
    ok(!message.includes("0123456789abcdef") && !message.includes("u:p@"), message);
  }
});

Deno.test("cluster config: PostgreSQL URLs, failover lists and redaction", () => {
  deepStrictEqual(
    parsePostgresUrl("postgres://m%40il:p%3Ass@h1:5432,h2:5433/dir?sslmode=require"),
    {
      user: "m@il",
      password: "p:ss",
      hosts: ["h1:5432", "h2:5433"],
      database: "dir",
    },
  );
  equal(parsePostgresUrl("postgres://u:p@h"), null);
  equal(redactDirectoryUrl("postgresql://u:p%40w@h/d"), "postgresql://u:********@h/d");
  equal(redactDirectoryUrl("postgres://u@h/d"), "postgres://u@h/d");
});

Deno.test("convert-conf: Nodes as name=host:port pairs", () => {
  const { toml } = convertClassic(
    "Directory = postgres://u@db/mail\nNodeName = mx1\nNodes = mx1=10.0.0.1:2525, mx2=10.0.0.2:2525\nPortCluster = 2525\nClusterSecret = 0123456789abcdef\nTLSCert = /c.pem\nTLSKey = /k.pem\n",
  );
  match(toml, /^Nodes = \{ mx1 = "10.0.0.1:2525", mx2 = "10.0.0.2:2525" \}$/m);
  throws(() => convertClassic("Nodes = mx1\n"), /Nodes = mx1: must list name=host:port pairs/);
});

Deno.test("homeOf: local on a single machine, for unnamed users and this node's users", () => {
  const nodes = { mx1: "10.0.0.1:2525", mx2: "10.0.0.2:2525" };
  const mx1 = { NodeName: "mx1", Nodes: nodes };
  equal(homeOf({ node: "" }, { NodeName: "", Nodes: {} }), "local");
  equal(homeOf({ node: "mx2" }, { NodeName: "", Nodes: {} }), "local", "no name: serves all");
  equal(homeOf({ node: "mx2" }, { NodeName: "mx1", Nodes: {} }), "local", "no other nodes");
  equal(homeOf({ node: "" }, mx1), "local", "users from before SPEC §12");
  equal(homeOf({ node: "mx1" }, mx1), "local");
  equal(homeOf({ node: "mx2" }, mx1), "mx2");
  equal(homeOf({ node: "gone" }, mx1), "gone", "a node no longer in Nodes is still named");
});

Deno.test("directory state: changes apply as data, twice is harmless, DOMAIN DEL cascades", () => {
  const content: DirectoryContent = {
    domains: ["a.test"],
    users: [userRecord("joe", "a.test", { map: "jl" })],
    aliases: [],
    lists: [{ name: "team", domain: "a.test", access: "PUBLIC", members: [] }],
    deny: [],
    dkim: [],
  };
  const s = DirectoryState.from(content);
  equal(s.maps.get("jl"), "joe@a.test");
  // A new record replaces the MAP index entry of the old one.
  s.apply({ op: "user.mod", user: userRecord("joe", "a.test", { map: "jj" }) });
  equal(s.maps.get("jl"), undefined);
  equal(s.maps.get("jj"), "joe@a.test");
  const member = { op: "member.add", domain: "a.test", list: "team", mailbox: "x@b.test" } as const;
  s.apply(member);
  s.apply(member);
  deepStrictEqual(s.lists.get("team@a.test")?.members, ["x@b.test"]);
  const deny = { op: "deny.add", entry: { kind: "IPIN", value: "10.0.0.0/8" } } as const;
  s.apply(deny);
  s.apply(deny);
  equal(s.deny.entries().length, 1);
  s.apply({ op: "alias.add", alias: { name: "info", domain: "a.test", forward: ["joe@a.test"] } });
  s.apply({ op: "domain.del", name: "a.test" });
  deepStrictEqual([s.domains.size, s.users.size, s.maps.size, s.aliases.size, s.lists.size], [
    0,
    0,
    0,
    0,
    0,
  ]);
  // Changes for what is gone do nothing.
  s.apply({ op: "member.del", domain: "a.test", list: "team", mailbox: "x@b.test" });
  s.apply({ op: "user.del", domain: "a.test", name: "joe" });
  equal(s.users.size, 0);
});
