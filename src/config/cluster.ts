/**
 * The configuration keys of several machines (SPEC §12): Directory, NodeName, Nodes,
 * PortCluster, ClusterSecret. Each value's own rule and the rules between them; the
 * messages name the key and the fix, as every configuration error does (load.ts).
 */
import { isIP } from "node:net";
import { NameError, normalizeNodeName } from "../directory/names.ts";
import type { Config } from "./schema.ts";

type Problem = string | null;

const URL_FORM = '"postgres://user:password@host:5432/database"';

/**
 * The parts of a PostgreSQL URL `postgres[ql]://[user[:password]@]host[:port][,host[:port]...]
 * /database[?parameters]` (several hosts: libpq's failover list, e.g. a primary and its
 * replica with `?target_session_attrs=read-write`). Null when the text has another shape.
 */
export function parsePostgresUrl(
  text: string,
): { user: string; password: string; hosts: string[]; database: string } | null {
  const m = /^postgres(?:ql)?:\/\/(?:([^@/]*)@)?([^/?#@]+)\/([^/?#]+)(?:\?[^#]*)?$/i.exec(text);
  if (!m) return null;
  const [user, ...password] = (m[1] ?? "").split(":");
  try {
    return {
      user: decodeURIComponent(user),
      password: decodeURIComponent(password.join(":")),
      hosts: m[2].split(","),
      database: decodeURIComponent(m[3]),
    };
  } catch {
    return null; // a broken %-escape
  }
}

/** The URL with its password replaced by stars, for messages, logs and check-conf. */
export function redactDirectoryUrl(text: string): string {
  return text.replace(/^(postgres(?:ql)?:\/\/[^:@/]*:)([^@/]*)@/i, "$1********@");
}

/** `host:port` of a node or a database host; the port is required when `needPort`. */
function checkHostPort(text: string, needPort: boolean): Problem {
  const bracketed = /^\[([^\]]+)\](?::(\d{1,5}))?$/.exec(text);
  const plain = /^([A-Za-z0-9.-]+)(?::(\d{1,5}))?$/.exec(text);
  const host = bracketed?.[1] ?? plain?.[1];
  const port = bracketed ? bracketed[2] : plain?.[2];
  if (host === undefined || (bracketed && isIP(host) !== 6)) return "not host:port";
  if (needPort && port === undefined) return "the port is missing";
  if (port !== undefined && (Number(port) < 1 || Number(port) > 65535)) {
    return "the port must be 1..65535";
  }
  return null;
}

export function checkDirectory(value: string): Problem {
  if (value === "sqlite") return null;
  if (!/^postgres(ql)?:\/\//i.test(value)) {
    return `must be "sqlite" or a PostgreSQL URL ${URL_FORM}`;
  }
  const url = parsePostgresUrl(value);
  if (!url) {
    return `is not a PostgreSQL URL of the form ${URL_FORM} (write special characters of` +
      " the password %-encoded)";
  }
  for (const host of url.hosts) {
    const problem = checkHostPort(host, false);
    if (problem) return `host "${host}": ${problem}; write e.g. ${URL_FORM}`;
  }
  return null;
}

export function checkNodeName(value: string): Problem {
  try {
    normalizeNodeName(value);
    return null;
  } catch (e) {
    if (e instanceof NameError) return e.message;
    throw e;
  }
}

/** One `name = "host:port"` entry of Nodes. */
export function checkNodeEntry(name: string, value: string): Problem {
  if (name.trim() === "") return "a node name is empty";
  const nameProblem = checkNodeName(name);
  if (nameProblem) return nameProblem;
  const problem = checkHostPort(value, true);
  return problem
    ? `${name} = "${value}": ${problem}; write ${name} = "10.0.0.1:2525" (the node's PortCluster)`
    : null;
}

export function checkClusterSecret(value: string): Problem {
  if (value === "" || value.length >= 16) return null;
  return "must be at least 16 characters, the same on every node (e.g. `openssl rand -hex 32`)";
}

/**
 * The rules between the cluster keys. `fail(key, problem)` reports a problem of `key`
 * (load.ts leaves out keys whose own value was refused).
 */
export function checkClusterKeys(
  config: Config,
  fail: (key: keyof Config, problem: string) => void,
): void {
  const names = Object.keys(config.Nodes);
  const list = names.join(", ");
  if (names.length > 0) {
    if (config.NodeName === "") {
      fail("NodeName", `is empty but Nodes lists ${list}; give this node's name among them`);
    } else if (!names.includes(config.NodeName)) {
      fail("NodeName", `is not one of Nodes (${list}); name this node as Nodes does`);
    }
    if (config.Directory === "sqlite") {
      fail(
        "Nodes",
        'lists several nodes but Directory = "sqlite" is one machine\'s; set Directory to' +
          ` the PostgreSQL URL all nodes share, ${URL_FORM}`,
      );
    }
    if (config.PortCluster === 0) {
      fail("PortCluster", "is 0 but Nodes lists other nodes; give the port they reach this one on");
    }
  }
  if (config.PortCluster !== 0) {
    if (config.ClusterSecret === "") {
      fail(
        "ClusterSecret",
        "is empty while PortCluster is set; give every node the same secret of at least 16" +
          " characters (e.g. `openssl rand -hex 32`)",
      );
    }
    if (config.TLSCert === "") {
      fail(
        "PortCluster",
        "needs TLSCert and TLSKey: nodes talk TLS to each other; give a certificate or set" +
          " PortCluster = 0",
      );
    }
  }
}
