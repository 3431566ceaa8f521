/*
 * FunctionsRelay player beacons: attach to any <video> or <audio> and send its playback to a FunctionsRelay.
 *
 *   FunctionsRelay.track(videoOrAudio, { endpoint: 'https://<relay>/api/beacons', portalId: 4242, key: 'pk_...',
 *                                         media: { externalId: 'video-7', name: 'Launch demo' } });
 *
 * No dependencies. A classic script (defines window.FunctionsRelay); relay-beacon.mjs exports the same as an ES module.
 * Nothing here throws into the host page: a problem is reported with console.warn and the page carries on.
 * The beacon contract: docs/beacons.md; how to use this script: docs/player.md.
 */
(function (root) {
  'use strict';

  var VERSION = '1.0.0';
  // An adapter's player moved its playhead further than this from where the time played puts it: a seek.
  var SEEK_SECONDS = 1.5;
  var DEFAULT_HEARTBEAT_SECONDS = 10;
  var MAX_BEACONS_PER_REQUEST = 50; // the relay takes 500 and 256 KiB; sendBeacon itself caps near 64 KiB
  var MAX_UNSENT_BEACONS = 1000; // kept for sending again after a 429, a 503 or no answer; the oldest go first beyond it
  var MAX_WAIT_SECONDS = 300;
  var MEDIA_TYPES = ['VIDEO', 'AUDIO', 'DOCUMENT', 'IMAGE', 'OTHER'];

  function warn(message, error) {
    try {
      if (root.console && root.console.warn) root.console.warn('[FunctionsRelay] ' + message, error || '');
    } catch (ignored) { /* a console that throws is the page's business */ }
  }

  function newSessionId() {
    var crypto = root.crypto;
    if (crypto && typeof crypto.randomUUID === 'function') return crypto.randomUUID();
    var bytes = new Uint8Array(16);
    if (crypto && crypto.getRandomValues) crypto.getRandomValues(bytes);
    else for (var i = 0; i < 16; i++) bytes[i] = Math.floor(Math.random() * 256);
    var hex = '';
    for (var j = 0; j < 16; j++) hex += (bytes[j] + 0x100).toString(16).slice(1);
    return hex.slice(0, 8) + '-' + hex.slice(8, 12) + '-' + hex.slice(12, 16) + '-' + hex.slice(16, 20) + '-' + hex.slice(20);
  }

  /** HubSpot's tracking code keeps the visitor's token in the hubspotutk cookie. */
  function hubSpotUtk() {
    var match = /(?:^|;\s*)hubspotutk=([^;]+)/.exec(root.document ? root.document.cookie : '');
    return match ? decodeURIComponent(match[1]) : null;
  }

  function seconds(value) {
    return Math.round(value * 1000) / 1000;
  }

  function Tracker(element, options) {
    this._element = element;
    // The portal's publishable key rides in the URL: sendBeacon can set no header.
    // The portal id rides there too: the relay answers CORS for the portal's own origins by it.
    this._portalId = Number(options.portalId);
    this._endpoint = String(options.endpoint) + (String(options.endpoint).indexOf('?') < 0 ? '?' : '&') + 'portalId=' + this._portalId
      + (options.key ? '&key=' + encodeURIComponent(String(options.key)) : '');
    this._heartbeatMs = 1000 * (options.heartbeatSeconds > 0 ? options.heartbeatSeconds : DEFAULT_HEARTBEAT_SECONDS);
    this._options = options;
    this._pending = [];
    this._unsent = []; // beacons the relay has not taken yet, to send again once it may
    this._waiting = null; // the timer until the relay may be asked again
    this._failures = 0;
    this._leaving = false;
    this._sessionId = null;
    this._seq = 0;
    this._playing = false;
    this._live = false; // the session's media is a live stream: its beacons carry no duration
    this._heartbeat = null;
    this._lastPosition = 0;
    this._lastPositionAt = 0;
    this._listeners = [];

    var self = this;
    this._on(element, 'play', function () { self._play(); });
    this._on(element, 'pause', function () { self._pause(); });
    this._on(element, 'ended', function () { self._ended(); });
    this._on(element, 'seeking', function () { self._seeking(); });
    this._on(element, 'timeupdate', function () { self._notePosition(); });
    this._on(element, 'emptied', function () { self.end(); }); // a new source: the next play is a new session
    this._on(root, 'pagehide', function () { self._leaving = true; self.end(); self._sendUnsentNow(); });
    this._on(root, 'pageshow', function () { self._leaving = false; });
    if (root.document) {
      this._on(root.document, 'visibilitychange', function () {
        if (root.document.visibilityState === 'hidden') self._hidden();
      });
    }
    if (!element.paused) this._play(); // attached to a player that is already playing
  }

  Tracker.prototype = {
    /** The current session's id, or null before the first play and after end. */
    get sessionId() { return this._sessionId; },

    /** Beacons recorded that the relay has not accepted yet (waiting to be sent, or to be sent again). */
    get unsent() { return this._pending.length + this._unsent.length + (this._inFlight || 0); },

    /** Ends the session now (the relay sends its attention span); the next play starts a new one. */
    end: function () {
      if (!this._sessionId) return;
      this._beacon('end', { position: this._element.currentTime });
      this._stopHeartbeat();
      this._playing = false;
      this.flush();
      this._sessionId = null;
    },

    /** Sends the beacons collected since the last heartbeat now (or keeps them while the relay asked to wait). */
    flush: function () {
      if (this._waiting && !this._leaving) {
        this._keep(this._pending.splice(0, this._pending.length));
        return;
      }
      while (this._pending.length > 0) this._send(this._pending.splice(0, MAX_BEACONS_PER_REQUEST));
    },

    /** Ends the session and stops listening to the player and the page. */
    detach: function () {
      this.end();
      for (var i = 0; i < this._listeners.length; i++) {
        var l = this._listeners[i];
        l.target.removeEventListener(l.type, l.handler);
      }
      this._listeners = [];
    },

    _on: function (target, type, handler) {
      var guarded = function () {
        try { handler(); } catch (error) { warn('could not record ' + type, error); }
      };
      target.addEventListener(type, guarded);
      this._listeners.push({ target: target, type: type, handler: guarded });
    },

    _play: function () {
      var starting = !this._sessionId;
      if (starting) {
        this._sessionId = newSessionId();
        this._seq = 0;
        this._beacon('start', this._descriptors());
      }
      this._beacon('play', { position: this._element.currentTime });
      this._playing = true;
      this._startHeartbeat();
      if (starting) this.flush(); // the played event reaches HubSpot without waiting for a heartbeat
    },

    _pause: function () {
      if (!this._sessionId || this._element.ended) return; // at the end, 'ended' follows and says it
      this._beacon('pause', { position: this._element.currentTime });
      this._playing = false;
      this._stopHeartbeat();
      this.flush();
    },

    _ended: function () {
      if (!this._sessionId) return;
      this._beacon('ended', { position: this._element.currentTime });
      this._playing = false;
      this._stopHeartbeat();
      this.flush();
    },

    _seeking: function () {
      var to = this._element.currentTime;
      if (this._sessionId) {
        // The element already reports the new position: where it was comes from the last position it reported,
        // moved on by the time played since.
        this._beacon('seek', { from: this._positionBeforeSeek(), position: to });
      }
      this._lastPosition = to;
      this._lastPositionAt = now();
    },

    _hidden: function () {
      // A hidden page is often never shown again (mobile), so end the session; but a player still playing (audio in a
      // background tab) keeps it: report where it is, and pagehide or the relay's idle timeout ends it.
      if (this._playing) {
        this._beacon('heartbeat', { position: this._element.currentTime });
        this.flush();
      } else {
        this.end();
      }
    },

    _startHeartbeat: function () {
      if (this._heartbeat) return;
      var self = this;
      this._heartbeat = root.setInterval(function () {
        try {
          self._beacon('heartbeat', { position: self._element.currentTime });
          self.flush();
        } catch (error) {
          warn('heartbeat failed', error);
        }
      }, this._heartbeatMs);
    },

    _stopHeartbeat: function () {
      if (!this._heartbeat) return;
      root.clearInterval(this._heartbeat);
      this._heartbeat = null;
    },

    _notePosition: function () {
      if (this._element.seeking) return; // it already reports where the seek goes, not where it came from
      this._lastPosition = this._element.currentTime;
      this._lastPositionAt = now();
    },

    _positionBeforeSeek: function () {
      var element = this._element;
      if (!this._playing || !this._lastPositionAt) return this._lastPosition;
      var moved = (now() - this._lastPositionAt) / 1000 * (element.playbackRate || 1);
      var position = this._lastPosition + Math.min(Math.max(moved, 0), 1); // timeupdate comes at least every 250 ms
      return isFinite(element.duration) ? Math.min(position, element.duration) : position;
    },

    /** What the relay needs once per session: media, contact, page and context. */
    _descriptors: function () {
      var options = this._options;
      var element = this._element;
      var media = {};
      var given = options.media || {};
      for (var key in given) if (Object.prototype.hasOwnProperty.call(given, key)) media[key] = given[key];
      // Only a web address: a stream's blob: or data: source names nothing HubSpot could show.
      if (!media.url && /^https?:\/\//i.test(element.currentSrc || '')) media.url = element.currentSrc;
      // A live stream has no duration (the relay sends it a played event only), whatever the element says of its window.
      this._live = media.live === true;
      var type = String(media.type || (element.tagName === 'AUDIO' ? 'AUDIO' : 'VIDEO')).toUpperCase();
      media.type = MEDIA_TYPES.indexOf(type) >= 0 ? type : 'OTHER';

      var descriptors = { media: media, context: options.context || 'EXTERNAL_PAGE' };
      var utk = hubSpotUtk();
      if (options.contact) descriptors.contact = options.contact;
      else if (utk) descriptors.contact = { utk: utk };
      if (options.page) descriptors.page = options.page;
      else if (root.location) descriptors.page = { name: (root.document && root.document.title) || root.location.pathname, url: root.location.href };
      return descriptors;
    },

    _beacon: function (event, fields) {
      var element = this._element;
      var beacon = { portalId: this._portalId, sessionId: this._sessionId, seq: this._seq++, event: event, ts: Date.now() };
      for (var key in fields) if (Object.prototype.hasOwnProperty.call(fields, key)) beacon[key] = fields[key];
      if (typeof beacon.position === 'number') beacon.position = seconds(beacon.position);
      if (typeof beacon.from === 'number') beacon.from = seconds(beacon.from);
      if (!this._live && isFinite(element.duration) && element.duration > 0) beacon.duration = seconds(element.duration);
      this._pending.push(beacon);
      if (typeof beacon.position === 'number') {
        this._lastPosition = beacon.position;
        this._lastPositionAt = now();
      }
    },

    _send: function (beacons) {
      // text/plain keeps this a simple request (no CORS preflight); keepalive lets it outlive the page.
      var body = JSON.stringify({ beacons: beacons });
      var navigator = root.navigator;
      // Leaving the page (or no fetch): sendBeacon, which outlives it but never hears the answer.
      if (this._leaving || typeof root.fetch !== 'function') {
        try {
          if (navigator && typeof navigator.sendBeacon === 'function' && navigator.sendBeacon(this._endpoint, body)) return;
        } catch (error) {
          warn('sendBeacon failed', error);
        }
        if (typeof root.fetch !== 'function') {
          warn('neither sendBeacon nor fetch is available: ' + beacons.length + ' beacons not sent');
          return;
        }
      }
      var self = this;
      var sending;
      try {
        sending = root.fetch(this._endpoint, {
          method: 'POST',
          body: body,
          keepalive: body.length < 60000,
          credentials: 'omit',
          headers: { 'Content-Type': 'text/plain' },
        });
      } catch (error) {
        // A fetch that throws at once (a page's own wrapper, a quota): kept, as if there had been no answer.
        warn('fetch failed', error);
        this._keep(beacons);
        this._waitAndResend(null);
        return;
      }
      this._inFlight = (this._inFlight || 0) + beacons.length;
      var done = function () { self._inFlight -= beacons.length; };
      sending.then(function (response) {
        done();
        if (response.status === 429 || response.status >= 500) {
          self._keep(beacons);
          self._waitAndResend(self._retryAfter(response));
        } else if (!response.ok) {
          warn('the relay refused beacons: HTTP ' + response.status);
        } else {
          self._failures = 0;
        }
      }, function () {
        done();
        self._keep(beacons);
        self._waitAndResend(null);
      }).then(null, function (error) { warn('could not handle the relay\'s answer', error); });
    },

    /** Keeps beacons for sending again, the oldest dropped beyond MAX_UNSENT_BEACONS. */
    _keep: function (beacons) {
      this._unsent = this._unsent.concat(beacons);
      if (this._unsent.length > MAX_UNSENT_BEACONS) {
        var dropped = this._unsent.length - MAX_UNSENT_BEACONS;
        this._unsent = this._unsent.slice(dropped);
        warn('the relay has not taken beacons for a while: ' + dropped + ' of the oldest dropped');
      }
    },

    /** Seconds the relay's Retry-After asks for (delta-seconds or an HTTP date); null if it says none. */
    _retryAfter: function (response) {
      var value = response.headers && response.headers.get ? response.headers.get('Retry-After') : null;
      if (!value) return null;
      var seconds = Number(value);
      if (isFinite(seconds)) return Math.max(0, seconds);
      var date = Date.parse(value);
      return isFinite(date) ? Math.max(0, (date - Date.now()) / 1000) : null;
    },

    /** One wait at a time: after Retry-After, or a growing back-off (2 s, 4 s, ... 5 min) with jitter when it says none. */
    _waitAndResend: function (seconds) {
      if (this._waiting) return;
      this._failures++;
      var wait = seconds !== null ? seconds : Math.min(MAX_WAIT_SECONDS, Math.pow(2, this._failures)) * (0.5 + Math.random() / 2);
      var self = this;
      this._waiting = root.setTimeout(function () {
        self._waiting = null;
        try {
          self._sendUnsentNow();
          self.flush();
        } catch (error) {
          warn('sending again failed', error);
        }
      }, Math.min(wait, MAX_WAIT_SECONDS) * 1000);
    },

    /** Everything kept, in order, in as few requests as the limit allows: the relay drops what it already has (same seq). */
    _sendUnsentNow: function () {
      var kept = this._unsent;
      this._unsent = [];
      while (kept.length > 0) this._send(kept.splice(0, MAX_BEACONS_PER_REQUEST));
    },
  };

  function now() {
    return root.performance && root.performance.now ? root.performance.now() : Date.now();
  }

  var inert = { sessionId: null, end: function () {}, flush: function () {}, detach: function () {} };

  /**
   * Tracks one media element. Options: endpoint (the relay's /api/beacons URL) and portalId (the HubSpot account id),
   * both required; key (the portal's publishable key: the relay refuses a portal's beacons without it); media ({ externalId | mediaBridgeId, name, url, type }), page ({ id } or { name, url }; default the
   * current page), contact ({ contactId } or { utk }; default the hubspotutk cookie), context ('EXTERNAL_PAGE' or
   * 'EMAIL'), heartbeatSeconds (10). media.live: true for a live stream (its beacons carry no duration). Returns
   * { sessionId, end(), flush(), detach() }.
   */
  function track(element, options) {
    try {
      options = options || {};
      if (!element || typeof element.addEventListener !== 'function' || !('currentTime' in element)) {
        warn('track() needs an HTMLMediaElement (<video> or <audio>)');
        return inert;
      }
      if (!options.endpoint) {
        warn('track() needs options.endpoint, the relay\'s beacon URL');
        return inert;
      }
      if (!(Number(options.portalId) >= 1)) {
        warn('track() needs options.portalId, the HubSpot account id');
        return inert;
      }
      return new Tracker(element, options);
    } catch (error) {
      warn('could not track this player', error);
      return inert;
    }
  }

  /**
   * For adapters of players that are no media element (YouTube, Vimeo): an object the tracker reads as one. reads
   * gives currentTime(), duration() (NaN while unknown), and optionally playbackRate() and currentSrc(); the adapter
   * sets paused and ended, calls dispatch('play' | 'pause' | 'ended' | 'emptied') and, each time it learns where the
   * playhead is, observe(seconds, seeked).
   */
  function playerElement(reads) {
    var listeners = {};
    var last = null; // where the playhead was seen last, and when
    var element = {
      paused: true,
      ended: false,
      seeking: false,
      tagName: 'VIDEO',
      addEventListener: function (type, handler) { (listeners[type] = listeners[type] || []).push(handler); },
      removeEventListener: function (type, handler) {
        var list = listeners[type] || [];
        var at = list.indexOf(handler);
        if (at >= 0) list.splice(at, 1);
      },
      dispatch: function (type) {
        var list = (listeners[type] || []).slice();
        for (var i = 0; i < list.length; i++) list[i]();
      },
      // A seek when the player says so, or when the playhead is further from where the time played since the last
      // look puts it than the looks' spacing explains (SEEK_SECONDS); else a time update.
      observe: function (seconds, seeked) {
        var expected = last ? last.seconds + (element.paused ? 0 : (now() - last.at) / 1000 * (element.playbackRate || 1)) : seconds;
        var moved = last ? Math.abs(seconds - last.seconds) > 0.05 : false;
        var jumped = Math.abs(seconds - expected) > SEEK_SECONDS;
        last = { seconds: seconds, at: now() };
        element.dispatch(jumped || (seeked && moved) ? 'seeking' : 'timeupdate');
      }
    };
    Object.defineProperty(element, 'currentTime', { get: reads.currentTime });
    Object.defineProperty(element, 'duration', { get: reads.duration });
    Object.defineProperty(element, 'playbackRate', { get: reads.playbackRate || function () { return 1; } });
    Object.defineProperty(element, 'currentSrc', { get: reads.currentSrc || function () { return ''; } });
    return element;
  }

  /**
   * For adapters: tracks their element with the page's options, the media filled in by completeMedia(media) (a copy of
   * options.media the adapter may still fill in before the session starts); the handle's detach() also runs stop().
   */
  function follow(element, options, completeMedia, stop) {
    var media = {};
    var given = options.media || {};
    for (var key in given) if (Object.prototype.hasOwnProperty.call(given, key)) media[key] = given[key];
    completeMedia(media);
    var tracked = {};
    for (var option in options) if (Object.prototype.hasOwnProperty.call(options, option)) tracked[option] = options[option];
    tracked.media = media;
    var tracker = track(element, tracked);
    var handle = {
      end: function () { tracker.end(); },
      flush: function () { tracker.flush(); },
      detach: function () {
        try { tracker.detach(); stop(); } catch (error) { warn('could not stop following the player', error); }
      }
    };
    Object.defineProperty(handle, 'sessionId', { get: function () { return tracker.sessionId; } });
    Object.defineProperty(handle, 'unsent', { get: function () { return tracker.unsent; } });
    return handle;
  }

  /**
   * For adapters of libraries that play into a media element they attach to and detach from (hls.js, Shaka Player):
   * one tracker at a time, on the element played into now. known() says what only the library knows: { url, live }.
   * The media takes them at its session's start and at refresh(), unless the page gave them; a url must be https.
   * library is { name, on(type, listener), off(type, listener) }: on(type, handler) listens to it, a handler that
   * throws is warned of, and the handle's detach() ends the session and stops listening.
   */
  function followAttached(options, known, library) {
    var given = options.media || {};
    var tracker = inert;
    var element = null;
    var media = null;
    var listening = [];
    var refresh = function () {
      if (!media) return;
      var now = known();
      if (!given.url) media.url = /^https:\/\//.test(now.url || '') ? now.url : undefined;
      if (given.live === undefined) media.live = now.live || undefined;
    };
    var release = function () {
      tracker.detach();
      tracker = inert;
      element = null;
    };
    var handle = {
      end: function () { tracker.end(); },
      flush: function () { tracker.flush(); },
      detach: function () {
        try {
          release();
          for (var i = 0; i < listening.length; i++) {
            try { library.off(listening[i].type, listening[i].listener); } catch (ignored) { /* destroyed */ }
          }
          listening = [];
        } catch (error) {
          warn('could not stop following the player', error);
        }
      }
    };
    Object.defineProperty(handle, 'sessionId', { get: function () { return tracker.sessionId; } });
    Object.defineProperty(handle, 'unsent', { get: function () { return tracker.unsent || 0; } });
    return {
      handle: handle,
      refresh: refresh,
      release: release,
      attach: function (next) {
        if (!next || next === element) return;
        tracker.detach();
        element = next;
        tracker = follow(next, options, function (filled) { media = filled; refresh(); }, function () {});
      },
      on: function (type, handler) {
        var listener = function () {
          try { handler.apply(null, arguments); } catch (error) { warn('could not follow ' + library.name + ' (' + type + ')', error); }
        };
        library.on(type, listener);
        listening.push({ type: type, listener: listener });
      }
    };
  }

  root.FunctionsRelay = { track: track, version: VERSION, playerElement: playerElement, follow: follow, followAttached: followAttached };
})(typeof globalThis !== 'undefined' ? globalThis : typeof self !== 'undefined' ? self : this);
