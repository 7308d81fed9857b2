"use strict";
// Checks of the audit ledger in the browser: RFC 9162 inclusion proofs and the Ed25519
// signature of a tree head. WebCrypto exists only in a secure context (https, or http on
// localhost / 127.0.0.1); elsewhere the page says the proofs were not checked here.
const Ledger = (() => {
  const hex = (bytes) =>
    Array.from(new Uint8Array(bytes), (b) => b.toString(16).padStart(2, "0")).join("");
  const unhex = (text) => Uint8Array.from(text.match(/../g) || [], (h) => parseInt(h, 16));
  const unbase64 = (text) => Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
  const available = () => Boolean(globalThis.crypto && globalThis.crypto.subtle);

  async function nodeHash(left, right) {
    const data = new Uint8Array(1 + left.length + right.length);
    data[0] = 1;
    data.set(left, 1);
    data.set(right, 1 + left.length);
    return new Uint8Array(await crypto.subtle.digest("SHA-256", data));
  }

  // RFC 9162 §2.1.3.2: rebuild the root from the leaf and its audit path.
  async function verifyInclusion(proof, rootHex) {
    const size = proof.tree_size;
    let fn = proof.leaf_index;
    let sn = size - 1;
    if (fn < 0 || fn >= size) return false;
    let result = unhex(proof.leaf_hash);
    for (const siblingHex of proof.audit_path) {
      const sibling = unhex(siblingHex);
      if (sn === 0) return false;
      if (fn & 1 || fn === sn) {
        result = await nodeHash(sibling, result);
        while (!(fn & 1) && fn !== 0) {
          fn >>= 1;
          sn >>= 1;
        }
      } else {
        result = await nodeHash(result, sibling);
      }
      fn >>= 1;
      sn >>= 1;
    }
    return sn === 0 && hex(result) === rootHex;
  }

  // The signed message: canonical JSON (sorted keys, no spaces), timestamp with microseconds.
  function signedMessage(head) {
    const parts = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,6}))?(?:Z|\+00:00)$/.exec(
      head.timestamp,
    );
    if (!parts) return null;
    const timestamp = `${parts[1]}.${(parts[2] || "").padEnd(6, "0")}Z`;
    return JSON.stringify({
      log: "changeward-audit/1",
      root: head.root,
      size: head.size,
      timestamp,
    });
  }

  // "valid", "invalid", or "unchecked" when this browser cannot verify Ed25519.
  async function verifyTreeHead(head, publicKeyBase64) {
    const message = signedMessage(head);
    if (!message || !available()) return "unchecked";
    try {
      const key = await crypto.subtle.importKey(
        "raw",
        unbase64(publicKeyBase64),
        { name: "Ed25519" },
        false,
        ["verify"],
      );
      const valid = await crypto.subtle.verify(
        { name: "Ed25519" },
        key,
        unbase64(head.signature),
        new TextEncoder().encode(message),
      );
      return valid ? "valid" : "invalid";
    } catch (error) {
      return "unchecked";
    }
  }

  return { available, verifyInclusion, verifyTreeHead };
})();
