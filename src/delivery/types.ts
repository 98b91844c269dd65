/**
 * The contract between the SMTP protocol (src/smtp/) and the mail pipeline
 * (src/delivery/): the SMTP session parses and sequences commands; the pipeline
 * decides policy (deny entries, relay, recipients, quotas) and delivers.
 */
import type { UserRecord } from "../directory/records.ts";

/** An SMTP reply with its RFC 3463 enhanced status code (ENHANCEDSTATUSCODES). */
export class SmtpReply {
  constructor(
    readonly code: number,
    readonly enhanced: string,
    readonly text: string,
  ) {}

  get positive(): boolean {
    return this.code < 400;
  }

  /** Wire form, multi-line when text has several lines (RFC 5321 4.2.1). */
  toString(): string {
    // Most replies are one line: no split, map and join for them (several per message).
    if (!this.text.includes("\n")) {
      return `${this.code} ${this.enhanced ? this.enhanced + " " : ""}${this.text}\r\n`;
    }
    const lines = this.text.split("\n");
    return lines.map((l, i) =>
      `${this.code}${i < lines.length - 1 ? "-" : " "}${
        this.enhanced ? this.enhanced + " " : ""
      }${l}`
    ).join("\r\n") + "\r\n";
  }
}

/** A copy that failed after the message was accepted: the DSN names it with its reply. */
export interface FailedRecipient {
  address: string;
  reply: SmtpReply;
}

/** What the pipeline needs to know about the client session. */
export interface SessionInfo {
  /** Connection id, used in logs. */
  id: string;
  service: "smtp" | "submission" | "smtps";
  clientIp: string;
  /** Name given in HELO/EHLO. */
  helo: string;
  /** True after EHLO (ESMTP), for the Received "with" clause (RFC 3848). */
  esmtp: boolean;
  tls: { protocol: string; cipher: string } | null;
  /** The authenticated user (SMTP AUTH), or null. */
  authUser: UserRecord | null;
}

/** MAIL FROM parameters the pipeline cares about (RFC 1870, 6152, 6531, 3461). */
export interface MailParams {
  size?: number;
  body?: "7BIT" | "8BITMIME" | "BINARYMIME";
  smtpUtf8?: boolean;
  /** RFC 3461 4.3: what a DSN returns (the whole message or its header). */
  ret?: "FULL" | "HDRS";
  /** RFC 3461 4.4: the sender's envelope id, decoded from xtext. */
  envid?: string;
}

/** RFC 3461 RCPT parameters: when to report (4.1) and the original recipient (4.2). */
export interface RcptDsn {
  /** ["NEVER"], or some of SUCCESS, FAILURE, DELAY; absent: failures (and delays) only. */
  notify?: ("NEVER" | "SUCCESS" | "FAILURE" | "DELAY")[];
  /** ORCPT decoded from xtext: addr-type ("rfc822", "utf-8") and the address. */
  orcpt?: { type: string; address: string };
}

/** A recipient accepted at RCPT, with what the pipeline resolved for it. */
export interface AcceptedRecipient {
  /** The address as the client wrote it (without <>). */
  address: string;
  /** Pipeline-private resolution data. */
  resolution: unknown;
  /** RFC 3461 NOTIFY/ORCPT given with this RCPT. */
  dsn?: RcptDsn;
}

/** One mail transaction, from MAIL to the end of DATA/BDAT. */
export interface Transaction {
  /** Envelope sender without <>; "" for the null sender. */
  from: string;
  params: MailParams;
  recipients: AcceptedRecipient[];
}
