/**
 * Finding, reading and validating the configuration (SPEC §2, §3).
 *
 * Resolution order: an explicit path (--conf), the environment variable EXTREMAIL_CONF,
 * /etc/extremail/extremail.toml when it exists, else the embedded development defaults.
 * Keys missing from a file take the production defaults of SPEC §3, not the development
 * ones: a file describes a real installation.
 *
 * Every problem becomes a ConfigError with one line that names the place, the key, the
 * value, and what to do, e.g. `extremail.toml line 12: PortSMTP = 70000: port must be
 * 0..65535 (0 disables the listener)`.
 */

import { createPrivateKey, X509Certificate } from "node:crypto";
import { dirname, resolve } from "node:path";
import { parse as parseToml, TomlError } from "smol-toml";
import { HIDDEN_SECRET, shortTomlValue } from "./format.ts";
import { unknownKeyMessage } from "./unknown_key.ts";
import {
  type Config,
  ConfigError,
  isSecretKey,
  keySpec,
  schemaDefaults,
  shownValue,
} from "./schema.ts";
import { checkValue } from "./check_value.ts";
import { checkClusterKeys } from "./cluster.ts";

export { type Config, ConfigError } from "./schema.ts";

export interface LoadedConfig {
  config: Readonly<Config>;
  /** Absolute path of the file read, or null for the embedded development defaults. */
  source: string | null;
}

export const SYSTEM_CONFIG_PATH = "/etc/extremail/extremail.toml";

/** Names the place of a key in its file for messages: "extremail.toml line 12". */
export type KeyLocator = (key: string) => string;

/** `where: Key = value: problem`, with secrets never echoed. */
export function configProblem(where: string, key: string, value: unknown, problem: string): string {
  const shown = isSecretKey(key) && value !== ""
    ? HIDDEN_SECRET
    : shortTomlValue(shownValue(key, value, HIDDEN_SECRET));
  return `${where}: ${key} = ${shown}: ${problem}`;
}

/** The embedded development defaults: loopback only, unprivileged ports, ./extremail-data. */
export function devDefaults(): Config {
  return {
    ...schemaDefaults(),
    DirBase: resolve("extremail-data"),
    ListenIP: ["127.0.0.1"],
    AdminIP: ["127.0.0.1"],
    PortSMTP: 2525,
    PortSubmission: 2587,
    PortSMTPS: 0,
    PortPOP3: 1110,
    PortPOP3S: 0,
    PortIMAP: 1143,
    PortIMAPS: 0,
    PortAdmin: 4501,
  };
}

/**
 * Parses and validates the text of a TOML configuration file (no file system access).
 * Relative paths (DirBase, LogFile, TLSCert, TLSKey) resolve against `baseDir`, by default
 * the directory of `sourceName`; pass `baseDir: null` to keep them as written.
 * Throws one ConfigError holding every problem of the file.
 */
export function parseConfigText(
  text: string,
  sourceName: string,
  options: { baseDir?: string | null } = {},
): Config {
  const { config, problems } = checkConfigText(text, sourceName, options);
  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}

/**
 * parseConfigText that returns every problem instead of throwing; `config` then holds
 * the defaults in place of the refused values.
 */
export function checkConfigText(
  text: string,
  sourceName: string,
  options: { baseDir?: string | null } = {},
): { config: Config; problems: string[] } {
  const problems: string[] = [];
  const values = parseTomlCollecting(text, sourceName, problems);
  const baseDir = options.baseDir === undefined ? dirname(resolve(sourceName)) : options.baseDir;
  const config = buildConfig(values, locatorForText(text, sourceName), baseDir, problems);
  return { config, problems: inLineOrder(problems) };
}

/** Most syntax errors a file can report before the rest is given up on. */
const MAX_SYNTAX_ERRORS = 50;

/**
 * TOML stops at its first syntax error. To report every one, the offending line is
 * blanked and the text parsed again; the keys of the lines that parse are still checked.
 */
function parseTomlCollecting(
  text: string,
  sourceName: string,
  problems: string[],
): Record<string, unknown> {
  const lines = text.split("\n");
  for (let round = 0; round < MAX_SYNTAX_ERRORS; round++) {
    try {
      return parseToml(lines.join("\n"));
    } catch (error) {
      if (!(error instanceof TomlError)) throw error;
      // smol-toml's message continues with a code excerpt on further lines; the first line
      // says what is wrong and line/column say where.
      const what = error.message.split("\n")[0].replace(/^Invalid TOML document: /, "");
      problems.push(
        `${sourceName} line ${error.line} column ${error.column}: TOML syntax error: ${what}`,
      );
      const index = error.line - 1;
      if (index < 0 || index >= lines.length || lines[index].trim() === "") return {};
      lines[index] = "";
    }
  }
  return {};
}

/** A KeyLocator that finds the line where a top-level key (or a table by that name) is set. */
export function locatorForText(text: string, sourceName: string): KeyLocator {
  const lines = text.split(/\r?\n/);
  return (key) => {
    const name = key.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
    const pattern = new RegExp(`^\\s*\\[{0,2}\\s*(["']?)${name}\\1\\s*[=.\\]]`);
    const index = lines.findIndex((line) => pattern.test(line));
    return index < 0 ? sourceName : `${sourceName} line ${index + 1}`;
  };
}

/**
 * Builds a Config from parsed key/value pairs (TOML types): unknown keys, wrong types and
 * impossible values throw one ConfigError listing them all. Keys not given take the
 * production defaults.
 */
export function configFromValues(
  values: Record<string, unknown>,
  where: KeyLocator,
  baseDir: string | null,
): Config {
  const problems: string[] = [];
  const config = buildConfig(values, where, baseDir, problems);
  if (problems.length > 0) throw new ConfigError(inLineOrder(problems));
  return config;
}

/** configFromValues that adds each problem to `problems` (in file order) and goes on. */
function buildConfig(
  values: Record<string, unknown>,
  where: KeyLocator,
  baseDir: string | null,
  problems: string[],
): Config {
  const config = schemaDefaults() as unknown as Record<string, unknown>;
  const add = (_key: string, text: string) => problems.push(text);
  const refused = new Set<string>();
  for (const [key, value] of Object.entries(values)) {
    const spec = keySpec(key);
    if (!spec) {
      add(key, unknownKeyMessage(where(key), key, value));
      continue;
    }
    const checked = checkValue(spec, value);
    if (checked.problem !== undefined) {
      add(key, configProblem(where(key), key, value, checked.problem));
      refused.add(key);
      continue;
    }
    let stored = checked.value;
    if (spec.kind === "string" && spec.isPath && stored !== "" && baseDir !== null) {
      stored = resolve(baseDir, stored as string);
    }
    config[key] = stored;
  }
  const result = config as unknown as Config;
  checkCombinations(result, where, refused, add);
  return result;
}

/**
 * Problems sorted by the line they name ("file line 12: ..."; those naming no line first),
 * so that an admin can fix a file from top to bottom.
 */
export function inLineOrder(problems: readonly string[]): string[] {
  const lineOf = (p: string) => Number(/^[^:]* line (\d+)\b/.exec(p)?.[1] ?? 0);
  return problems.map((text, i) => ({ text, i, line: lineOf(text) }))
    .sort((a, b) => a.line - b.line || a.i - b.i)
    .map((p) => p.text);
}

/** The mail listeners' port keys (the admin port is PortAdmin). */
export const MAIL_PORT_KEYS = [
  "PortSMTP",
  "PortSubmission",
  "PortSMTPS",
  "PortPOP3",
  "PortPOP3S",
  "PortIMAP",
  "PortIMAPS",
] as const;

const WILDCARD_ADDRESSES = new Set(["0.0.0.0", "::", "::0"]);

/**
 * Rules that involve more than one key. Keys whose own value was refused (`refused`) are
 * left out: their default stands in and would only produce confusing follow-up errors.
 */
function checkCombinations(
  config: Config,
  where: KeyLocator,
  refused: ReadonlySet<string>,
  add: (key: string, problem: string) => void,
): void {
  const fail = (key: keyof Config, problem: string): void => {
    if (!refused.has(key)) add(key, configProblem(where(key), key, config[key], problem));
  };

  if (config.TLSCert !== "" && config.TLSKey === "") {
    fail("TLSCert", 'TLSKey is empty; give the private key file too, or set TLSCert = ""');
  }
  if (config.TLSKey !== "" && config.TLSCert === "") {
    fail("TLSKey", 'TLSCert is empty; give the certificate file too, or set TLSKey = ""');
  }

  if (config.RelayUser !== "" && config.RelayPassword === "") {
    fail("RelayUser", "RelayPassword is empty; give both for AUTH at RelayHost, or neither");
  }
  if (config.RelayPassword !== "" && config.RelayUser === "") {
    fail("RelayPassword", "RelayUser is empty; give both for AUTH at RelayHost, or neither");
  }
  if (config.RelayUser !== "" && config.RelayHost === "") {
    fail("RelayUser", "RelayHost is empty; AUTH credentials are only used with a smart host");
  }

  // SPEC §12: Directory, NodeName, Nodes, PortCluster, ClusterSecret together.
  checkClusterKeys(config, fail);

  // Two listeners on one address and port cannot both bind (PortCluster binds ListenIP too).
  const used = new Map<number, string>();
  for (const key of [...MAIL_PORT_KEYS, "PortCluster"] as const) {
    const port = config[key];
    if (port === 0) continue;
    const other = used.get(port);
    if (other) fail(key, `already used by ${other}; give each listener its own port`);
    used.set(port, key);
  }
  const adminClash = used.get(config.PortAdmin);
  if (config.PortAdmin !== 0 && sharesAddress(config.AdminIP, config.ListenIP) && adminClash) {
    fail("PortAdmin", `already used by ${adminClash} on the same address; choose another port`);
  }
  if (config.PortMetrics !== 0) {
    const mailClash = used.get(config.PortMetrics);
    const clash = mailClash && sharesAddress(config.MetricsIP, config.ListenIP)
      ? mailClash
      : config.PortMetrics === config.PortAdmin && sharesAddress(config.MetricsIP, config.AdminIP)
      ? "PortAdmin"
      : undefined;
    if (clash) {
      fail("PortMetrics", `already used by ${clash} on the same address; choose another port`);
    }
  }
}

/** Could listeners on these two address lists collide (same address, or a wildcard)? */
function sharesAddress(a: readonly string[], b: readonly string[]): boolean {
  return a.some((ip) => WILDCARD_ADDRESSES.has(ip) || b.includes(ip)) ||
    b.some((ip) => WILDCARD_ADDRESSES.has(ip));
}

/**
 * Reads TLSCert and TLSKey (already absolute) and checks that they hold a certificate and
 * the matching private key, so a bad file stops start-up instead of the first STARTTLS.
 */
export async function checkTlsFiles(config: Readonly<Config>, where: KeyLocator): Promise<void> {
  if (config.TLSCert === "" || config.TLSKey === "") return;
  const read = async (key: "TLSCert" | "TLSKey"): Promise<string> => {
    try {
      return await Deno.readTextFile(config[key]);
    } catch (error) {
      throw new ConfigError(configProblem(
        where(key),
        key,
        config[key],
        `cannot read the file (${
          describeFileError(error)
        }); give a readable PEM file or "" for no TLS`,
      ));
    }
  };
  const certText = await read("TLSCert");
  const keyText = await read("TLSKey");
  let certificate: X509Certificate;
  try {
    if (!certText.includes("-----BEGIN CERTIFICATE-----")) throw new Error("no PEM block");
    certificate = new X509Certificate(certText);
  } catch {
    throw new ConfigError(configProblem(
      where("TLSCert"),
      "TLSCert",
      config.TLSCert,
      'does not hold a PEM certificate ("-----BEGIN CERTIFICATE-----"); is it the key file?',
    ));
  }
  let privateKey: ReturnType<typeof createPrivateKey>;
  try {
    privateKey = createPrivateKey(keyText);
  } catch {
    throw new ConfigError(configProblem(
      where("TLSKey"),
      "TLSKey",
      config.TLSKey,
      "does not hold an unencrypted PEM private key; decrypt it (openssl pkey -in FILE)",
    ));
  }
  if (!certificate.checkPrivateKey(privateKey)) {
    throw new ConfigError(configProblem(
      where("TLSKey"),
      "TLSKey",
      config.TLSKey,
      "is not the private key of the certificate in TLSCert",
    ));
  }
}

function describeFileError(error: unknown): string {
  if (error instanceof Deno.errors.NotFound) return "no such file";
  if (error instanceof Deno.errors.PermissionDenied) return "permission denied";
  if (error instanceof Deno.errors.IsADirectory) return "it is a directory";
  return error instanceof Error ? error.message : String(error);
}

/** Freezes an object and every object or array it holds. */
export function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === "object" && !Object.isFrozen(value)) {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}

async function readConfigFile(path: string, origin: string): Promise<LoadedConfig> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    throw new ConfigError(
      `${path}: cannot read the configuration file ${origin} (${
        describeFileError(error)
      }); check the path`,
    );
  }
  const { config, problems } = checkConfigText(text, path);
  try {
    await checkTlsFiles(config, locatorForText(text, path));
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    problems.push(...error.problems);
  }
  if (problems.length > 0) throw new ConfigError(inLineOrder(problems));
  return { config: deepFreeze(config), source: resolve(path) };
}

/**
 * Finds and loads the configuration (SPEC §2). `systemPath` replaces
 * /etc/extremail/extremail.toml (for tests). The result is deeply frozen.
 */
export async function loadConfig(
  opts: { path?: string; systemPath?: string } = {},
): Promise<LoadedConfig> {
  if (opts.path !== undefined && opts.path !== "") {
    return readConfigFile(opts.path, "given with --conf");
  }
  const fromEnvironment = Deno.env.get("EXTREMAIL_CONF");
  if (fromEnvironment) return readConfigFile(fromEnvironment, "named by EXTREMAIL_CONF");
  const systemPath = opts.systemPath ?? SYSTEM_CONFIG_PATH;
  try {
    await Deno.stat(systemPath);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) {
      throw new ConfigError(`${systemPath}: cannot read (${describeFileError(error)})`);
    }
    return { config: deepFreeze(devDefaults()), source: null };
  }
  return readConfigFile(systemPath, "at the default location");
}
