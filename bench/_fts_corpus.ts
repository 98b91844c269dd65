/**
 * The messages of bench/fts.ts: text drawn from a vocabulary of 8,000 made-up words with
 * a Zipf-like frequency, as plain text, quoted-printable Latin-1, base64 UTF-8, HTML and
 * multipart with an attachment; "the rare needle phrase" in every 1,000th, "quarterly
 * budget review" in every 100th. Deterministic.
 */
const enc = new TextEncoder();
const USER = "bench@bench.example";

let seed = 17;
function random(): number {
  seed = (seed * 1103515245 + 12345) & 0x7fffffff;
  return seed / 0x80000000;
}

const SYLLABLES = ["ka", "lo", "mi", "ne", "ru", "ta", "vo", "zi", "pe", "sa", "dü", "ré", "ho"];
export const VOCAB = Array.from({ length: 8000 }, (_, i) => {
  let w = "", n = i + 1;
  while (n > 0) {
    w += SYLLABLES[n % SYLLABLES.length];
    n = Math.floor(n / SYLLABLES.length);
  }
  return w;
});

/** A word, frequent ones much more often (rank ~ 1/u^2). */
function word(): string {
  const r = random();
  return VOCAB[Math.min(VOCAB.length - 1, Math.floor(r * r * r * VOCAB.length))];
}

function text(i: number): string {
  const lines: string[] = [];
  const words = 80 + Math.floor(random() * 500);
  let line: string[] = [];
  for (let k = 0; k < words; k++) {
    line.push(word());
    if (line.length === 12) {
      lines.push(line.join(" "));
      line = [];
    }
  }
  if (line.length) lines.push(line.join(" "));
  if (i % 1000 === 7) lines.push("the rare needle phrase");
  if (i % 100 === 3) lines.push("quarterly budget review");
  return lines.join("\r\n") + "\r\n";
}

export function messageAt(i: number): Uint8Array {
  const head = [
    `Received: from mx${i % 13}.example.net (mx${i % 13}.example.net [192.0.2.${i % 250}])`,
    `\tby bench.example with ESMTPS id ${(i * 7919).toString(36)}; Mon, 1 Jan 2024 10:00:00 +0000`,
    `From: Sender ${i % 97} <sender${i % 97}@example.org>`,
    `To: Bench <${USER}>`,
    `Subject: ${word()} ${word()} ${i % 50 === 0 ? "Invoice" : "message"} ${i}`,
    `Date: Mon, ${1 + i % 28} Jan 2024 10:${String(i % 60).padStart(2, "0")}:00 +0000`,
    `Message-ID: <${i}@bench.example>`,
    "MIME-Version: 1.0",
  ];
  const t = text(i);
  let body: string;
  switch (i % 5) {
    case 0:
      head.push('Content-Type: multipart/mixed; boundary="b1"');
      body = `--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n${t}--b1\r\n` +
        'Content-Type: application/pdf; name="a.pdf"\r\nContent-Transfer-Encoding: base64\r\n\r\n' +
        "JVBERi0xLjQKJcfsj6IKNSAwIG9iago8PC9MZW5ndGggNiAwIFIvRmlsdGVyIC9GbGF0ZURlY29kZT4+\r\n"
          .repeat(40) +
        "--b1--\r\n";
      break;
    case 1: {
      head.push("Content-Type: text/plain; charset=iso-8859-1");
      head.push("Content-Transfer-Encoding: quoted-printable");
      body = t.replace(/ü/g, "=FC").replace(/é/g, "=E9");
      break;
    }
    case 2: {
      head.push("Content-Type: text/plain; charset=utf-8");
      head.push("Content-Transfer-Encoding: base64");
      const b = enc.encode(t);
      let bin = "";
      for (const c of b) bin += String.fromCharCode(c);
      body = btoa(bin).replace(/.{76}/g, "$&\r\n") + "\r\n";
      break;
    }
    case 3:
      head.push("Content-Type: text/html; charset=utf-8");
      body = `<html><body><p>${t.replace(/\r\n/g, "<br>\r\n")}</p></body></html>\r\n`;
      break;
    default:
      head.push("Content-Type: text/plain; charset=utf-8");
      body = t;
  }
  return enc.encode(head.join("\r\n") + "\r\n\r\n" + body);
}
