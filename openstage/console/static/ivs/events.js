// The events WebSocket (docs 2.3): the token rides as the sub-protocol; the server pushes the
// roster (STAGE_STATE) and tells of removals (aws:ivs:DISCONNECT) and refusals (aws:ivs:JOIN_ERROR).

import { StageError } from "./token.js";

const PING_INTERVAL_MS = 15000;

/** Emits "state" (a STAGE_STATE payload, newest only) and, once, "ended" ({code, message}). */
export class EventsSocket extends EventTarget {
  constructor(token) {
    super();
    this.token = token;
    this.sequenceNumber = 0;
    this.ended = null;
    this.socket = null;
  }

  /** Resolves on the first roster; rejects with a StageError when refused or unreachable. */
  open() {
    return new Promise((resolve, reject) => {
      const url = `${this.token.eventsUrl}?topic=${encodeURIComponent(this.token.stageId)}/publishers`;
      let joined = false;
      let ping = null;
      const socket = new WebSocket(url, this.token.raw);
      this.socket = socket;
      socket.onopen = () => {
        ping = setInterval(() => this.send({ type: "PING" }), PING_INTERVAL_MS);
      };
      socket.onmessage = (event) => {
        let message;
        try {
          message = JSON.parse(event.data);
        } catch {
          return;
        }
        const payload = message.payload || {};
        if (message.type === "STAGE_STATE" || message.type === "aws:ivs:STAGE_STATE") {
          if (payload.sequenceNumber <= this.sequenceNumber) return;
          this.sequenceNumber = payload.sequenceNumber;
          if (!joined) {
            joined = true;
            resolve();
          }
          this.dispatchEvent(new CustomEvent("state", { detail: payload }));
        } else if (message.type === "aws:ivs:JOIN_ERROR") {
          const error = new StageError(payload.code || "INTERNAL", payload.message || "");
          if (!joined) {
            joined = true;
            this.ended = error;
            reject(error);
          } else {
            this._end(error);
          }
        } else if (message.type === "aws:ivs:DISCONNECT") {
          this._end(new StageError(payload.code || "PARTICIPANT_DISCONNECTED", payload.reason || ""));
        }
      };
      socket.onclose = () => {
        clearInterval(ping);
        if (!joined) {
          joined = true;
          reject(new StageError("CONNECTION_FAILED", `The stage's events endpoint ${this.token.eventsUrl} cannot be reached.`));
        } else if (!this.closing) {
          this._end(new StageError("CONNECTION_LOST", "The connection to the stage was lost."));
        }
      };
    });
  }

  send(message) {
    if (this.socket && this.socket.readyState === WebSocket.OPEN) this.socket.send(JSON.stringify(message));
  }

  setState(audioMuted, videoStopped) {
    this.send({ type: "SET_STATE", version: "0", audioMuted, videoStopped });
  }

  close() {
    this.closing = true;
    if (this.socket) this.socket.close();
  }

  _end(error) {
    if (this.ended) return;
    this.ended = error;
    this.closing = true;
    this.dispatchEvent(new CustomEvent("ended", { detail: error }));
  }
}
