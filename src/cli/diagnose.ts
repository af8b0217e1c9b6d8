// Why a WebSocket connection attempt failed. A client sees only a failed handshake (the HTTP
// answer of a refused upgrade is hidden from it), so the terminal client asks the server's
// ticket endpoint, which checks a token exactly as the upgrade does and answers in words.

export interface Diagnosis {
  message: string;
  /** Retrying with the same credentials cannot help: the client should stop. */
  fatal: boolean;
}

/** What to tell the user when `token` cannot connect to `wsUrl`; null when the token is fine. */
export async function diagnoseConnection(wsUrl: string, token: string, keyFile?: string): Promise<Diagnosis | null> {
  const origin = new URL(wsUrl.replace(/^ws/, "http")).origin;
  let res: Response;
  try {
    res = await fetch(`${origin}/v1/tickets`, { method: "POST", headers: { authorization: `Bearer ${token}` } });
  } catch {
    return { message: `no msgr server answers at ${origin}: is \`msgr start\` running (or --url wrong)? still trying…`, fatal: false };
  }
  if (res.ok) return null;
  let code = "";
  let detail = "";
  try {
    const body = (await res.json()) as { code?: string; message?: string };
    code = body.code ?? "";
    detail = body.message ?? "";
  } catch {
    return { message: `${origin} answered ${res.status} and is not a msgr server (or --url is wrong)`, fatal: true };
  }
  const refused = `the server refused this client (${res.status} ${code}: ${detail})`;
  switch (code) {
    case "draining":
      return { message: "the server is shutting down; still trying…", fatal: false };
    case "token-unknown-key":
      return {
        message:
          `${refused}. Its tokens are signed with the key in ${keyFile ?? "the local key file"}, which is not the server's: ` +
          "run chat in the directory where the server runs, or point MSGR_SERVER_DATA_DIR at the server's data directory.",
        fatal: true,
      };
    case "device-revoked":
      return { message: `${refused}. Start with another --device.`, fatal: true };
    default:
      return { message: refused, fatal: res.status === 401 || res.status === 403 };
  }
}
