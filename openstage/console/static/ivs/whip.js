// WHIP publish and subscribe (docs 2.4): one POST of an SDP offer per peer connection, answered
// 201 with the SDP answer and a Location that a DELETE ends. Like the IVS SDK, the offer goes out
// at once, without ICE servers: the server answers with its candidates and learns ours from checks.

export class WhipError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export class WhipSession {
  constructor(pc, location, bearer) {
    this.pc = pc;
    this.location = location;
    this.bearer = bearer;
    this.stream = new MediaStream();
  }

  /** Swaps the camera or microphone without a new offer. */
  async replaceTrack(kind, track) {
    const transceiver = this.pc.getTransceivers().find((t) => t.receiver.track.kind === kind);
    if (transceiver) await transceiver.sender.replaceTrack(track);
  }

  /** Closes the peer connection and deletes the resource (already gone is fine, as for the SDK). */
  async close() {
    this.pc.close();
    try {
      // keepalive: a page being closed still gets the DELETE out.
      const headers = { Authorization: `Bearer ${this.bearer}` };
      await fetch(this.location, { method: "DELETE", headers, keepalive: true });
    } catch {
      // the server may be gone too; nothing is left to tidy on this side
    }
  }
}

async function exchange(url, bearer, pc) {
  await pc.setLocalDescription(await pc.createOffer());
  let response;
  try {
    response = await fetch(url, {
      method: "POST",
      headers: { Authorization: `Bearer ${bearer}`, "Content-Type": "application/sdp" },
      body: pc.localDescription.sdp,
    });
  } catch {
    throw new WhipError(0, 0, `The stage's media endpoint ${url} cannot be reached.`);
  }
  if (response.status !== 201) {
    let body = {};
    try {
      body = await response.json();
    } catch {
      // not the JSON error body IVS sends; the status says enough
    }
    throw new WhipError(response.status, body.code || 0, body.message || `HTTP ${response.status}`);
  }
  const location = new URL(response.headers.get("Location"), url).href;
  await pc.setRemoteDescription({ type: "answer", sdp: await response.text() });
  return location;
}

/** Publishes `stream`'s first audio and video tracks; IVS wants a video m-line even without a camera. */
export async function publish(token, stream) {
  const pc = new RTCPeerConnection({ bundlePolicy: "max-bundle" });
  for (const kind of ["audio", "video"]) {
    const track = stream.getTracks().find((t) => t.kind === kind);
    pc.addTransceiver(track || kind, { direction: "sendonly", streams: [stream] });
  }
  try {
    const location = await exchange(`${token.whipUrl}/publish/${token.participantId}`, token.raw, pc);
    return new WhipSession(pc, location, token.raw);
  } catch (error) {
    pc.close();
    throw error;
  }
}

/** Receives a publishing participant's audio and video; the tracks arrive on the session's `stream`. */
export async function subscribe(token, remoteId) {
  const pc = new RTCPeerConnection({ bundlePolicy: "max-bundle" });
  pc.addTransceiver("audio", { direction: "recvonly" });
  pc.addTransceiver("video", { direction: "recvonly" });
  const tracks = [];
  pc.ontrack = (event) => tracks.push(event.track);
  try {
    const location = await exchange(`${token.whipUrl}/subscribe/${remoteId}`, token.raw, pc);
    const session = new WhipSession(pc, location, token.raw);
    for (const track of tracks) session.stream.addTrack(track);
    pc.ontrack = (event) => session.stream.addTrack(event.track);
    return session;
  } catch (error) {
    pc.close();
    throw error;
  }
}
