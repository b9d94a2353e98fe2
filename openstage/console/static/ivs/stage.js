// A stage as one participant sees it: join (events WebSocket), publish, subscribe to every other
// publisher, leave. Events: "participant-joined", "participant-updated", "participant-left"
// (detail: the remote), "participant-media" (detail: the remote, its `stream` now playing),
// "error" (detail: an Error about one remote) and, once, "left" (detail: a StageError, or null
// when this side left).

import { EventsSocket } from "./events.js";
import { StageError, isExpired, readToken } from "./token.js";
import { publish, subscribe } from "./whip.js";

const SUBSCRIBE_ATTEMPTS = 5; // a publisher is announced as its peer connection comes up: retry a 404 briefly

export class Stage extends EventTarget {
  /** Throws a StageError at once if `tokenText` is not a usable token. */
  constructor(tokenText) {
    super();
    this.token = readToken(tokenText);
    this.remotes = new Map(); // id -> {id, userId, attributes, isPublishing, audioMuted, videoStopped, session}
    this.publication = null;
    this.events = null;
    this.left = false;
  }

  async join() {
    if (isExpired(this.token)) {
      throw new StageError("TOKEN_EXPIRED", `it expired at ${this.token.expiresAt.toISOString()}`);
    }
    this.events = new EventsSocket(this.token);
    this.events.addEventListener("state", (event) => this._apply(event.detail));
    this.events.addEventListener("ended", (event) => this._finish(event.detail));
    await this.events.open();
  }

  async publish(stream, { audioMuted = false, videoStopped = false } = {}) {
    if (!this.token.canPublish) {
      throw new StageError("NO_PERMISSIONS", "This token does not allow publishing.");
    }
    this.publication = await publish(this.token, stream);
    this.setMediaState(audioMuted, videoStopped);
  }

  async unpublish() {
    const publication = this.publication;
    this.publication = null;
    if (publication) await publication.close();
  }

  /** Tells the others (SET_STATE); the page disables the tracks itself. */
  setMediaState(audioMuted, videoStopped) {
    if (this.events) this.events.setState(audioMuted, videoStopped);
  }

  async leave() {
    if (this.left) return;
    await this._finish(null);
  }

  _apply(payload) {
    const present = new Set();
    for (const entry of payload.participants || []) {
      if (entry.id === this.token.participantId) continue;
      present.add(entry.id);
      let remote = this.remotes.get(entry.id);
      if (!remote) {
        remote = { session: null, subscribing: false, ...entry };
        this.remotes.set(entry.id, remote);
        this._emit("participant-joined", remote);
      } else if (["userId", "isPublishing", "audioMuted", "videoStopped"].some((key) => remote[key] !== entry[key])) {
        Object.assign(remote, entry);
        this._emit("participant-updated", remote);
      }
      if (remote.isPublishing && this.token.canSubscribe && !remote.session && !remote.subscribing) {
        this._subscribe(remote);
      }
    }
    for (const [id, remote] of this.remotes) {
      if (present.has(id)) continue;
      this.remotes.delete(id);
      if (remote.session) remote.session.close();
      remote.session = null;
      this._emit("participant-left", remote);
    }
  }

  async _subscribe(remote) {
    remote.subscribing = true;
    try {
      for (let attempt = 1; ; attempt++) {
        try {
          const session = await subscribe(this.token, remote.id);
          if (this.left || this.remotes.get(remote.id) !== remote) {
            await session.close();
            return;
          }
          remote.session = session;
          this._emit("participant-media", remote);
          return;
        } catch (error) {
          if (error.status !== 404 || attempt >= SUBSCRIBE_ATTEMPTS || this.left) throw error;
          await new Promise((done) => setTimeout(done, 250 * 2 ** attempt));
        }
      }
    } catch (error) {
      if (!this.left) this.dispatchEvent(new CustomEvent("error", { detail: { remote, error } }));
    } finally {
      remote.subscribing = false;
    }
  }

  async _finish(reason) {
    if (this.left) return;
    this.left = true;
    const sessions = [...this.remotes.values()].map((remote) => remote.session).filter(Boolean);
    this.remotes.clear();
    if (this.publication) sessions.push(this.publication);
    this.publication = null;
    if (this.events) this.events.close();
    await Promise.all(sessions.map((session) => session.close()));
    this.dispatchEvent(new CustomEvent("left", { detail: reason }));
  }

  _emit(type, remote) {
    this.dispatchEvent(new CustomEvent(type, { detail: remote }));
  }
}
