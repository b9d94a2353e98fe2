// A participant token's claims, read as the IVS web SDK reads them (docs 1.5). The signature is
// the server's to check; the page only needs the stage, the endpoints and the capabilities.

export class StageError extends Error {
  /** `code`: an IVS JOIN_ERROR or DISCONNECT code, or NOT_A_TOKEN, CONNECTION_FAILED, CONNECTION_LOST, NO_PERMISSIONS. */
  constructor(code, message) {
    super(message);
    this.code = code;
  }
}

function decodeBase64Url(text) {
  const base64 = text.replace(/-/g, "+").replace(/_/g, "/").padEnd(Math.ceil(text.length / 4) * 4, "=");
  const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
  return new TextDecoder().decode(bytes);
}

export function readToken(text) {
  const raw = text.trim();
  const parts = raw.split(".");
  if (parts.length !== 3) {
    throw new StageError("NOT_A_TOKEN", "This is not a participant token: a token is three base64url parts joined by dots.");
  }
  let claims;
  try {
    claims = JSON.parse(decodeBase64Url(parts[1]));
  } catch {
    throw new StageError("NOT_A_TOKEN", "This is not a participant token: its claims are not readable JSON.");
  }
  const missing = ["jti", "topic", "events_url", "whip_url", "exp"].filter((name) => claims[name] === undefined);
  if (missing.length) {
    throw new StageError("NOT_A_TOKEN", `This is not a participant token: it has no ${missing.join(", ")}.`);
  }
  const capabilities = claims.capabilities || {};
  return {
    raw,
    participantId: String(claims.jti),
    stageId: String(claims.topic),
    stageArn: String(claims.resource || ""),
    eventsUrl: String(claims.events_url).replace(/\/+$/, ""),
    whipUrl: String(claims.whip_url).replace(/\/+$/, ""),
    userId: String(claims.user_id || ""),
    attributes: claims.attributes || {},
    expiresAt: new Date(Number(claims.exp) * 1000),
    canPublish: Boolean(capabilities.allow_publish),
    canSubscribe: Boolean(capabilities.allow_subscribe),
  };
}

export function isExpired(token, now = Date.now()) {
  return now >= token.expiresAt.getTime();
}
