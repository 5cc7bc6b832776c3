/* The tenant portal (issue 12): a single page over Tessera's own REST API, in plain
   JavaScript with no build step. The shell (templates/portal.html) names the tenant and
   the session's CSRF token in <body data-…>; every call sends the session cookie
   (same origin) and that token in X-CSRF-Token, and the API decides what the session may
   do: this page never tries to reach beyond its tenant.

   Sections are hash routes: #/clients, #/clients/new, #/clients/{id},
   #/clients/{id}/edit, #/members, #/settings, #/audit.

   Everything shown is built with createElement and textContent, never from HTML text,
   so nothing the API returns can become markup; the CSP (no inline script or style)
   holds because no handler or style is written into the DOM as an attribute. */

'use strict';

(() => {
  const body = document.body;
  const session = {
    tenantId: body.dataset.tenantId || '',
    tenantName: body.dataset.tenantName || '',
    csrf: body.dataset.csrfToken || '',
    endsAt: new Date(body.dataset.endsAt || ''),
  };
  const main = document.getElementById('main');
  const PAGE_SIZE = 20;

  /* ---------- DOM helpers ---------- */

  /** An element with `props` (attributes, and `class`, `text`, `value`, `dataset`) and
      children (nodes or text, which stays text). */
  function el(tag, props = {}, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(props)) {
      if (value === undefined || value === null || value === false) continue;
      if (key === 'class') node.className = value;
      else if (key === 'text') node.textContent = value;
      else if (key === 'value') node.value = value;
      else if (key === 'dataset') Object.assign(node.dataset, value);
      else if (value === true) node.setAttribute(key, '');
      else node.setAttribute(key, String(value));
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : String(child));
    }
    return node;
  }

  let uniqueId = 0;
  function nextId(prefix) {
    uniqueId += 1;
    return `${prefix}-${uniqueId}`;
  }

  function enc(value) {
    return encodeURIComponent(value);
  }

  function query(params) {
    const search = new URLSearchParams();
    for (const [key, value] of Object.entries(params)) {
      if (value !== undefined && value !== null && value !== '') search.set(key, value);
    }
    const text = search.toString();
    return text ? `?${text}` : '';
  }

  /* ---------- formatting ---------- */

  const dateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });

  function formatDate(iso) {
    if (!iso) return '';
    const date = new Date(iso);
    return Number.isNaN(date.getTime()) ? iso : dateFormat.format(date);
  }

  function timeElement(iso) {
    return el('time', { datetime: iso, title: iso, text: formatDate(iso) });
  }

  function plural(count, unit) {
    return `${count} ${unit}${count === 1 ? '' : 's'}`;
  }

  /** 90 → "1 minute 30 seconds", 86400 → "1 day". */
  function duration(seconds) {
    const total = Number(seconds);
    if (!Number.isFinite(total) || total <= 0) return '';
    const parts = [];
    let rest = Math.floor(total);
    for (const [unit, size] of [['day', 86400], ['hour', 3600], ['minute', 60], ['second', 1]]) {
      const count = Math.floor(rest / size);
      if (count > 0) parts.push(plural(count, unit));
      rest -= count * size;
    }
    return parts.slice(0, 2).join(' ');
  }

  /** A `datetime-local` value (the viewer's time) as RFC 3339 UTC, or '' when empty. */
  function localToIso(value) {
    if (!value) return '';
    const date = new Date(value);
    return Number.isNaN(date.getTime()) ? value : date.toISOString();
  }

  /* ---------- the API ---------- */

  class ApiError extends Error {
    constructor(status, text, causes = [], trackingId = '') {
      super(text);
      this.status = status;
      this.causes = causes;
      this.trackingId = trackingId;
    }
  }

  const STATUS_TEXT = {
    401: 'Your portal session has ended.',
    403: 'This portal session may not do that.',
    404: 'That no longer exists.',
    429: 'Too many requests at once. Wait a moment and try again.',
    503: 'Tessera is busy right now. Try again in a moment.',
  };

  function errorFrom(status, data) {
    const texts = (list) => (Array.isArray(list) ? list.map((item) => item && item.text).filter(Boolean) : []);
    const messages = texts(data && data.messages);
    const trackingId = (data && data.trackingId) || '';
    let text = messages[0] || STATUS_TEXT[status] || `The request failed (HTTP ${status}).`;
    if (status >= 500) {
      text = 'Something went wrong on the server; nothing was changed that you were not told about. Try again.';
      if (trackingId) text += ` If it keeps happening, quote reference ${trackingId}.`;
    }
    return new ApiError(status, text, texts(data && data.causes), trackingId);
  }

  /** Calls the API at `path` (relative to /portal, so a path prefix of the issuer holds). */
  async function api(method, path, payload) {
    const headers = { Accept: 'application/json', 'X-CSRF-Token': session.csrf };
    const init = { method, headers, credentials: 'same-origin', cache: 'no-store', redirect: 'error' };
    if (payload !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(payload);
    }
    let response;
    try {
      response = await fetch(path, init);
    } catch (_) {
      throw new ApiError(0, 'Tessera cannot be reached. Check your connection and try again.');
    }
    let data = null;
    if ((response.headers.get('content-type') || '').includes('json')) {
      data = await response.json().catch(() => null);
    }
    if (response.ok) return data;
    if (response.status === 401) sessionEnded();
    throw errorFrom(response.status, data);
  }

  /* ---------- feedback: busy buttons, toasts, errors next to fields ---------- */

  /** Runs `work` with `button` disabled and spinning, so a slow action shows and cannot
      be sent twice. */
  async function busy(button, work) {
    const wasDisabled = button.disabled;
    button.disabled = true;
    button.classList.add('is-busy');
    button.setAttribute('aria-busy', 'true');
    try {
      return await work();
    } finally {
      button.disabled = wasDisabled;
      button.classList.remove('is-busy');
      button.removeAttribute('aria-busy');
    }
  }

  let toastTimer = 0;
  function toast(message) {
    const region = document.getElementById('toast');
    region.textContent = message;
    region.classList.add('shown');
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => region.classList.remove('shown'), 5000);
  }

  function alertBox(text, extra = []) {
    return el('div', { class: 'alert', role: 'alert' }, el('p', { text }), extra.length ? el('ul', {}, extra.map((item) => el('li', { text: item }))) : null);
  }

  /** A cause of the API's error body, `field[index].sub: text`, split up. */
  function parseCause(cause) {
    const match = /^([A-Za-z_]+)(?:\[(\d+)\])?(?:\.[\w.[\]]+)?: ([\s\S]*)$/.exec(cause);
    if (!match) return { field: null, index: null, text: cause };
    return { field: match[1], index: match[2] === undefined ? null : Number(match[2]), text: match[3] };
  }

  function capitalised(text) {
    return text.charAt(0).toUpperCase() + text.slice(1);
  }

  /** A labelled form field; its error line sits right under the control. */
  function field({ name, label, hint, control, wide = false }) {
    const id = control.id || nextId(`f-${name}`);
    control.id = id;
    if (!control.name) control.name = name;
    const hintId = `${id}-hint`;
    const errorId = `${id}-error`;
    control.setAttribute('aria-describedby', hint ? `${hintId} ${errorId}` : errorId);
    return el(
      'div',
      { class: wide ? 'field wide' : 'field', dataset: { field: name } },
      el('label', { for: id, text: label }),
      hint ? el('p', { class: 'hint', id: hintId, text: hint }) : null,
      control,
      el('p', { class: 'field-error', id: errorId, hidden: true }),
    );
  }

  /** A group of checkboxes or radios under a legend, with its error line. */
  function choiceGroup({ name, legend, hint, type, options, checked, disabled = false }) {
    const hintId = nextId(`g-${name}-hint`);
    const errorId = nextId(`g-${name}-error`);
    return el(
      'fieldset',
      { class: 'field choices', dataset: { field: name }, 'aria-describedby': hint ? `${hintId} ${errorId}` : errorId },
      el('legend', { text: legend }),
      hint ? el('p', { class: 'hint', id: hintId, text: hint }) : null,
      options.map(([value, text, detail]) => {
        const id = nextId(`c-${name}`);
        return el(
          'div',
          { class: 'choice' },
          el('input', { type, id, name, value, checked: checked.includes(value), disabled }),
          el('label', { for: id }, el('span', { class: 'choice-title', text }), detail ? el('span', { class: 'choice-detail', text: detail }) : null),
        );
      }),
      el('p', { class: 'field-error', id: errorId, hidden: true }),
    );
  }

  function clearErrors(form) {
    form.querySelectorAll('.form-alert').forEach((node) => node.replaceChildren());
    form.querySelectorAll('.field-error').forEach((node) => {
      node.hidden = true;
      node.replaceChildren();
    });
    form.querySelectorAll('[aria-invalid]').forEach((node) => node.removeAttribute('aria-invalid'));
    form.querySelectorAll('.field.invalid').forEach((node) => node.classList.remove('invalid'));
  }

  function markField(form, name, text) {
    const wrapper = form.querySelector(`[data-field="${name}"]`);
    if (!wrapper) return false;
    const line = wrapper.querySelector('.field-error');
    line.hidden = false;
    line.append(el('span', { text }));
    wrapper.classList.add('invalid');
    wrapper.querySelectorAll('input, textarea, select').forEach((control) => control.setAttribute('aria-invalid', 'true'));
    return true;
  }

  /** Shows an API error on `form`: each cause next to the field it names (`itemLabel`
      says what an indexed entry is, e.g. "Line"), the rest at the top. A 404 or 409 whose
      text names no field can go to `conflictField`. */
  function showErrors(form, error, { itemLabel = {}, conflictField = null } = {}) {
    clearErrors(form);
    const unplaced = [];
    let placed = 0;
    for (const cause of error.causes || []) {
      const { field: name, index, text } = parseCause(cause);
      const message = index === null ? capitalised(text) : `${itemLabel[name] || 'Entry'} ${index + 1}: ${text}`;
      if (name && markField(form, name, message)) placed += 1;
      else unplaced.push(cause);
    }
    let text = error.message;
    if (!placed && conflictField && (error.status === 404 || error.status === 409) && markField(form, conflictField, text)) {
      placed += 1;
      text = '';
    }
    const top = form.querySelector('.form-alert');
    if (text || unplaced.length) {
      const summary = placed ? `${text} Check the fields marked below.`.trim() : text;
      top.replaceChildren(alertBox(summary, unplaced));
    }
    const first = form.querySelector('[aria-invalid="true"]');
    if (first) first.focus();
    else if (top.firstChild) top.firstChild.scrollIntoView({ block: 'nearest' });
  }

  /** Submits `form` through `work` with its button busy and its errors shown. */
  function onSubmit(form, work, options) {
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      const button = form.querySelector('button[type="submit"]');
      clearErrors(form);
      try {
        await busy(button, () => work(form));
      } catch (error) {
        if (!(error instanceof ApiError)) throw error;
        if (error.status !== 401) showErrors(form, error, options);
      }
    });
  }

  function formAlert() {
    return el('div', { class: 'form-alert' });
  }

  /* ---------- confirmation ---------- */

  /** Asks before something that cannot be undone; resolves to whether it was confirmed.
      The dialog is modal (focus stays in it, Escape cancels) and Cancel has the focus. */
  function confirmAction({ title, text, action }) {
    const dialog = document.getElementById('confirm');
    document.getElementById('confirm-title').textContent = title;
    document.getElementById('confirm-text').textContent = text;
    document.getElementById('confirm-ok').textContent = action;
    dialog.returnValue = '';
    return new Promise((resolve) => {
      dialog.addEventListener('close', () => resolve(dialog.returnValue === 'ok'), { once: true });
      dialog.showModal();
      document.getElementById('confirm-cancel').focus();
    });
  }

  /* ---------- copying ---------- */

  async function copyText(text, input, button) {
    let copied = false;
    try {
      await navigator.clipboard.writeText(text);
      copied = true;
    } catch (_) {
      input.select();
      copied = document.execCommand && document.execCommand('copy');
    }
    button.textContent = copied ? 'Copied' : 'Press Ctrl+C to copy';
    setTimeout(() => {
      button.textContent = 'Copy';
    }, 2500);
  }

  function copyRow(value, { id, label }) {
    const input = el('input', { type: 'text', id, readonly: true, class: 'mono', 'aria-label': label, value, spellcheck: 'false' });
    const button = el('button', { type: 'button', class: 'secondary', text: 'Copy' });
    button.addEventListener('click', () => copyText(value, input, button));
    input.addEventListener('focus', () => input.select());
    return el('div', { class: 'copy-row' }, input, button);
  }

  /** The one showing of a new secret: a copy button and a plain warning. One at a
      time: a newer secret replaces the panel of an older one. */
  function revealPanel(secret, heading) {
    document.getElementById('secret-reveal')?.remove();
    const panel = el(
      'section',
      { class: 'reveal', id: 'secret-reveal', 'aria-labelledby': 'secret-reveal-title', tabindex: '-1' },
      el('h2', { id: 'secret-reveal-title', text: heading }),
      el('p', { class: 'reveal-warning' }, el('strong', { text: 'Copy it now: it will not be shown again. ' }), 'Tessera keeps only a hash of it. If it is lost, add a new secret and delete this one.'),
      copyRow(secret, { id: 'new-secret', label: 'The new secret' }),
    );
    const done = el('button', { type: 'button', class: 'link', text: 'I have stored it — hide it' });
    done.addEventListener('click', () => panel.remove());
    panel.append(el('p', {}, done));
    return panel;
  }

  /* ---------- page structure ---------- */

  function viewHeader(title, lead, actions = []) {
    return el(
      'div',
      { class: 'view-header' },
      el('div', {}, el('h1', { id: 'view-title', tabindex: '-1', text: title }), lead ? el('p', { class: 'lead', text: lead }) : null),
      actions.length ? el('div', { class: 'view-actions' }, actions) : null,
    );
  }

  function emptyState(title, text, action) {
    return el('div', { class: 'empty' }, el('p', { class: 'empty-title', text: title }), el('p', { text }), action || null);
  }

  function linkButton(href, text, kind = 'primary') {
    return el('a', { href, class: `button ${kind}`, text });
  }

  function badge(text, kind) {
    return el('span', { class: `badge ${kind}`, text });
  }

  function loadingState(text = 'Loading…') {
    return el('p', { class: 'loading', role: 'status' }, el('span', { class: 'spinner', 'aria-hidden': 'true' }), text);
  }

  function errorState(error) {
    const text = error instanceof ApiError ? error.message : 'The page could not be shown. Reload to try again.';
    return el('div', { class: 'view' }, viewHeader('Something is in the way', ''), alertBox(text), el('p', {}, linkButton('#/clients', 'Back to OAuth clients', 'secondary')));
  }

  /* ---------- OAuth clients ---------- */

  const GRANT_TYPES = [
    ['AUTHORIZATION_CODE', 'Authorization code', 'People sign in through Tessera and the app gets tokens for them.'],
    ['CLIENT_CREDENTIALS', 'Client credentials', 'The app calls APIs as itself, with its secret.'],
    ['REFRESH_TOKEN', 'Refresh token', 'Keeps people signed in; needs authorization code.'],
  ];
  const CLIENT_TYPES = [
    ['CONFIDENTIAL', 'Confidential', 'A server-side app that can keep a secret.'],
    ['PUBLIC', 'Public', 'A browser or native app: no secret, it uses PKCE.'],
  ];
  const ACCESS_TYPES = [
    ['ONLINE', 'Online: tokens only while the person uses the app'],
    ['OFFLINE', 'Offline: the app may act while the person is away'],
  ];
  const label = (list, value) => (list.find((item) => item[0] === value) || [value, value])[1];

  const clientList = { search: '', cursors: [null], page: 0 };
  /** The secret of a client just created, shown once on its page, then forgotten. */
  let pendingReveal = null;

  async function viewClients() {
    const results = el('div', { class: 'results', 'aria-live': 'polite' });
    const input = el('input', { type: 'search', id: 'client-search', name: 'search', value: clientList.search, placeholder: 'Name or client ID', autocomplete: 'off' });
    const clear = el('button', { type: 'button', class: 'secondary', text: 'Clear', hidden: !clientList.search });
    const search = el(
      'form',
      { class: 'search', role: 'search' },
      el('label', { for: 'client-search', text: 'Search clients' }),
      el('div', { class: 'search-row' }, input, el('button', { type: 'submit', class: 'secondary', text: 'Search' }), clear),
    );
    const run = async (button) => {
      clientList.search = input.value.trim();
      clientList.cursors = [null];
      clientList.page = 0;
      clear.hidden = !clientList.search;
      await busy(button, () => loadClients(results));
    };
    search.addEventListener('submit', (event) => {
      event.preventDefault();
      run(search.querySelector('button[type="submit"]')).catch(() => {});
    });
    clear.addEventListener('click', () => {
      input.value = '';
      run(clear).catch(() => {});
      input.focus();
    });
    await loadClients(results);
    return el(
      'section',
      { class: 'view' },
      viewHeader('OAuth clients', 'The applications that sign people in to this tenant or call its APIs.', [linkButton('#/clients/new', 'New client')]),
      search,
      results,
    );
  }

  async function loadClients(results) {
    const cursor = clientList.cursors[clientList.page];
    let page;
    try {
      page = await api('GET', `api/v1/oauth-clients${query({ limit: PAGE_SIZE, cursor, search: clientList.search })}`);
    } catch (error) {
      results.replaceChildren(alertBox(error.message));
      return;
    }
    const items = page.items || [];
    if (!items.length) {
      results.replaceChildren(
        clientList.search
          ? emptyState(`No client matches “${clientList.search}”.`, 'Search looks at client names and client IDs. Try fewer letters, or clear the search.')
          : emptyState('No OAuth clients yet.', 'Create one for each application that signs people in to this tenant or calls its APIs.', linkButton('#/clients/new', 'Create the first client')),
      );
      return;
    }
    const rows = items.map((client) =>
      el(
        'tr',
        {},
        el('td', { 'data-label': 'Name' }, el('a', { href: `#/clients/${enc(client.id)}`, class: 'strong', text: client.name }), client.internal ? badge('Built-in', 'neutral') : null, client.description ? el('span', { class: 'sub', text: client.description }) : null),
        el('td', { 'data-label': 'Client ID' }, el('code', { text: client.id })),
        el('td', { 'data-label': 'Type', text: label(CLIENT_TYPES, client.type) }),
        el('td', { 'data-label': 'Status' }, client.enabled ? badge('Enabled', 'ok') : badge('Disabled', 'off')),
        el('td', { 'data-label': 'Created' }, timeElement(client.created)),
      ),
    );
    const table = el(
      'table',
      { class: 'table', id: 'clients-table' },
      el('caption', { class: 'visually-hidden', text: 'OAuth clients' }),
      el('thead', {}, el('tr', {}, ['Name', 'Client ID', 'Type', 'Status', 'Created'].map((text) => el('th', { scope: 'col', text })))),
      el('tbody', {}, rows),
    );
    results.replaceChildren(table, pager(clientList, page.nextCursor, items.length, results, loadClients));
  }

  /** Previous/next over cursor pages; `state.cursors[n]` starts page n. */
  function pager(state, nextCursor, shown, results, load) {
    const first = state.page * PAGE_SIZE + 1;
    const previous = el('button', { type: 'button', class: 'secondary', text: '← Previous', disabled: state.page === 0 });
    const next = el('button', { type: 'button', class: 'secondary', text: 'Next →', disabled: !nextCursor });
    previous.addEventListener('click', () => {
      state.page -= 1;
      busy(previous, () => load(results)).catch(() => {});
    });
    next.addEventListener('click', () => {
      state.cursors[state.page + 1] = nextCursor;
      state.page += 1;
      busy(next, () => load(results)).catch(() => {});
    });
    const count = el('span', { class: 'muted', text: `Showing ${first}–${first + shown - 1}` });
    if (state.page === 0 && !nextCursor) return el('div', { class: 'pager' }, count);
    return el('nav', { class: 'pager', 'aria-label': 'Pages' }, count, el('div', { class: 'pager-buttons' }, previous, next));
  }

  async function viewClient(id) {
    const [client, detail] = await Promise.all([api('GET', `api/v1/oauth-clients/${enc(id)}`), api('GET', `api/v1/tenants/clients/${enc(id)}`)]);
    const view = el('section', { class: 'view' });
    const toggle = el('button', { type: 'button', class: 'secondary', id: 'client-toggle', text: client.enabled ? 'Disable' : 'Enable' });
    toggle.addEventListener('click', () =>
      busy(toggle, async () => {
        await api('PATCH', `api/v1/oauth-clients/${enc(id)}`, { enabled: !client.enabled });
        toast(client.enabled ? `${client.name} is disabled: it gets no new tokens.` : `${client.name} is enabled.`);
        await refresh('client-toggle');
      }).catch((error) => actionError(view, error)),
    );
    const remove = el('button', { type: 'button', class: 'danger', id: 'client-delete', text: 'Delete' });
    remove.addEventListener('click', async () => {
      const confirmed = await confirmAction({
        title: `Delete the client “${client.name}”?`,
        text: `Applications using ${client.name} (${client.id}) will no longer get tokens, and its secrets stop working. This cannot be undone.`,
        action: 'Delete client',
      });
      if (!confirmed) return;
      busy(remove, async () => {
        await api('DELETE', `api/v1/oauth-clients/${enc(id)}`);
        toast(`The client ${client.name} was deleted.`);
        location.hash = '#/clients';
      }).catch((error) => actionError(view, error));
    });
    view.append(
      el('p', { class: 'crumbs' }, el('a', { href: '#/clients', text: '← OAuth clients' })),
      viewHeader(client.name, client.description, [linkButton(`#/clients/${enc(id)}/edit`, 'Edit', 'secondary'), toggle, remove]),
      el('p', { class: 'badges' }, client.enabled ? badge('Enabled', 'ok') : badge('Disabled', 'off'), badge(label(CLIENT_TYPES, client.type), 'neutral'), client.internal ? badge('Built-in', 'neutral') : null),
      el('div', { class: 'action-alert' }),
    );
    if (pendingReveal && pendingReveal.clientId === client.id) {
      view.append(revealPanel(pendingReveal.secret, 'The client’s first secret'));
      pendingReveal = null;
    }
    // Secrets first: they are what an admin comes back for (rotation, a lost one).
    if (client.type === 'CONFIDENTIAL') view.append(secretsSection(client, detail));
    else view.append(el('section', { class: 'panel' }, el('h2', { text: 'Secrets' }), el('p', { class: 'muted', text: 'A public client has no secrets: it proves itself with PKCE on each sign-in.' })));
    view.append(clientFacts(client));
    return view;
  }

  function actionError(view, error) {
    if (!(error instanceof ApiError) || error.status === 401) return;
    const slot = view.querySelector('.action-alert');
    slot.replaceChildren(alertBox(error.message, error.causes));
    slot.scrollIntoView({ block: 'nearest' });
  }

  function list(values, empty = 'None') {
    if (!values || !values.length) return el('span', { class: 'muted', text: empty });
    return el('ul', { class: 'plain' }, values.map((value) => el('li', {}, el('code', { text: value }))));
  }

  function chips(values, empty = 'None') {
    if (!values || !values.length) return el('span', { class: 'muted', text: empty });
    return el('span', {}, values.map((value) => el('span', { class: 'chip', text: value })));
  }

  function yesNo(value) {
    return value ? 'Yes' : 'No';
  }

  function clientFacts(client) {
    const seconds = (value) => `${duration(value)} (${value} s)`;
    const facts = [
      ['Client ID', el('span', { class: 'inline-copy' }, copyRow(client.id, { id: 'client-id', label: 'Client ID' }))],
      ['Business name', client.businessName || el('span', { class: 'muted', text: 'Not set' })],
      ['Homepage', client.homepageUrl ? el('code', { text: client.homepageUrl }) : el('span', { class: 'muted', text: 'Not set' })],
      ['Grant types', chips((client.grantTypes || []).map((grant) => label(GRANT_TYPES, grant)))],
      ['Redirect URIs', list(client.redirectUris)],
      ['Allowed scopes', chips(client.allowedScopes, 'Any scope the tenant knows')],
      ['Access type', label(ACCESS_TYPES, client.accessType)],
      ['Access tokens last', seconds(client.accessTokenValiditySeconds)],
      ['Refresh tokens last', seconds(client.refreshTokenValiditySeconds)],
      ['Strong authentication', yesNo(client.strongAuthSupported)],
      ['Claims supported', yesNo(client.claimsSupported)],
      ['Claims', client.claims && client.claims.length ? list(client.claims.map((claim) => `${claim.type} = ${claim.value}`)) : el('span', { class: 'muted', text: 'None' })],
      ['Created', timeElement(client.created)],
      ['Last changed', timeElement(client.modified)],
    ];
    return el(
      'section',
      { class: 'panel', 'aria-labelledby': 'settings-title' },
      el('h2', { id: 'settings-title', text: 'Settings' }),
      el('dl', { class: 'facts' }, facts.map(([term, value]) => el('div', {}, el('dt', { text: term }), el('dd', {}, value)))),
    );
  }

  function secretsSection(client, detail) {
    const section = el('section', { class: 'panel', 'aria-labelledby': 'secrets-title', id: 'secrets' });
    const table = el('div', { class: 'secrets-list' });
    const revealSlot = el('div');
    const render = (secrets) => table.replaceChildren(secretsTable(client, secrets, render));
    render(detail.secrets || []);

    const name = el('input', { type: 'text', id: 'secret-name', autocomplete: 'off', maxlength: '128' });
    const expiration = el('input', { type: 'datetime-local', id: 'secret-expiration' });
    const form = el(
      'form',
      { class: 'inline-form', novalidate: true, id: 'secret-form', 'aria-labelledby': 'secret-form-title' },
      el('h3', { id: 'secret-form-title', text: 'Add a secret' }),
      formAlert(),
      el(
        'div',
        { class: 'form-row' },
        field({ name: 'name', label: 'Name', hint: 'Say where it is used, e.g. “production server”.', control: name }),
        field({ name: 'expiration', label: 'Expires (optional)', hint: 'Your local time. Leave empty for no expiry.', control: expiration }),
        el('div', { class: 'form-row-submit' }, el('button', { type: 'submit', class: 'primary', id: 'secret-add', text: 'Add secret' })),
      ),
    );
    onSubmit(
      form,
      async () => {
        const payload = { name: name.value };
        if (expiration.value) payload.expiration = localToIso(expiration.value);
        const created = await api('POST', `api/v1/tenants/clients/${enc(client.id)}/tokens`, payload);
        const panel = revealPanel(created.token, `New secret “${created.name}”`);
        revealSlot.replaceChildren(panel);
        form.reset();
        panel.focus();
        const fresh = await api('GET', `api/v1/tenants/clients/${enc(client.id)}`);
        render(fresh.secrets || []);
      },
      { conflictField: 'name' },
    );
    section.append(
      el('h2', { id: 'secrets-title', tabindex: '-1', text: 'Secrets' }),
      el('p', { class: 'muted', text: 'The app proves it is this client with any of these. Add a new one before retiring an old one, so nothing breaks in between.' }),
      revealSlot,
      table,
      form,
    );
    return section;
  }

  function secretsTable(client, secrets, render) {
    if (!secrets.length) {
      return emptyState('This client has no secrets.', 'Add one below, then put it in the application’s configuration. Without a secret the client cannot authenticate.');
    }
    const now = Date.now();
    const rows = secrets.map((secret) => {
      const expired = secret.expiration && new Date(secret.expiration).getTime() <= now;
      const remove = el('button', { type: 'button', class: 'danger small', text: 'Delete', 'aria-label': `Delete the secret ${secret.name}` });
      const row = el(
        'tr',
        { dataset: { secretId: String(secret.id) } },
        el('td', { 'data-label': 'Name', class: 'strong', text: secret.name }),
        el('td', { 'data-label': 'Secret' }, el('code', { class: 'masked', text: secret.token })),
        el('td', { 'data-label': 'Expires' }, secret.expiration ? timeElement(secret.expiration) : el('span', { class: 'muted', text: 'Never' }), expired ? badge('Expired', 'off') : null),
        el('td', { 'data-label': 'Last used' }, secret.lastUsedAt ? timeElement(secret.lastUsedAt) : el('span', { class: 'muted', text: 'Never' })),
        el('td', { 'data-label': 'Created' }, timeElement(secret.createdAt)),
        el('td', { class: 'row-actions' }, remove),
      );
      remove.addEventListener('click', async () => {
        const confirmed = await confirmAction({
          title: `Delete the secret “${secret.name}”?`,
          text: `Anything that uses this secret of ${client.name} can no longer authenticate. This cannot be undone.`,
          action: 'Delete secret',
        });
        if (!confirmed) return;
        busy(remove, async () => {
          await api('DELETE', `api/v1/tenants/clients/${enc(client.id)}/tokens/${enc(secret.id)}`);
          toast(`The secret ${secret.name} was deleted.`);
          const fresh = await api('GET', `api/v1/tenants/clients/${enc(client.id)}`);
          render(fresh.secrets || []);
          document.getElementById('secrets-title').focus();
        }).catch((error) => {
          if (error instanceof ApiError && error.status !== 401) row.after(el('tr', {}, el('td', { colspan: '6' }, alertBox(error.message))));
        });
      });
      return row;
    });
    return el(
      'table',
      { class: 'table', id: 'secrets-table' },
      el('caption', { class: 'visually-hidden', text: `Secrets of ${client.name}` }),
      el('thead', {}, el('tr', {}, ['Name', 'Secret', 'Expires', 'Last used', 'Created', ''].map((text) => el('th', { scope: 'col' }, text || el('span', { class: 'visually-hidden', text: 'Actions' }))))),
      el('tbody', {}, rows),
    );
  }

  async function viewClientForm(id) {
    const client = id ? await api('GET', `api/v1/oauth-clients/${enc(id)}`) : null;
    const value = (key, fallback = '') => (client && client[key] !== undefined && client[key] !== null ? client[key] : fallback);
    const text = (name, props = {}) => el('input', { type: 'text', id: `client-${name}`, value: String(value(name)), autocomplete: 'off', ...props });
    const area = (name, content, rows = 3) => el('textarea', { id: `client-${name}`, rows: String(rows), spellcheck: 'false', text: content });
    const checkbox = (name, checked, title, detail) => {
      const box = el('input', { type: 'checkbox', id: `client-${name}`, name, checked });
      return el('div', { class: 'field choice', dataset: { field: name } }, box, el('label', { for: box.id }, el('span', { class: 'choice-title', text: title }), el('span', { class: 'choice-detail', text: detail })), el('p', { class: 'field-error', hidden: true }));
    };

    const form = el('form', { class: 'form', novalidate: true, id: 'client-form' });
    form.append(
      formAlert(),
      el(
        'fieldset',
        { class: 'group' },
        el('legend', { text: 'The application' }),
        field({ name: 'name', label: 'Name', hint: 'Shown to people when they sign in.', control: text('name', { maxlength: '256' }) }),
        field({ name: 'description', label: 'Description', control: area('description', value('description'), 2), wide: true }),
        field({ name: 'businessName', label: 'Business name (optional)', control: text('businessName') }),
        field({ name: 'homepageUrl', label: 'Homepage (optional)', hint: 'An http or https address.', control: text('homepageUrl', { inputmode: 'url' }) }),
      ),
      el(
        'fieldset',
        { class: 'group' },
        el('legend', { text: 'Sign-in and tokens' }),
        id
          ? el('div', { class: 'field' }, el('p', { class: 'label-like', text: 'Client type' }), el('p', {}, label(CLIENT_TYPES, client.type), el('span', { class: 'hint', text: ' — fixed when a client is created.' })))
          : choiceGroup({ name: 'type', legend: 'Client type', type: 'radio', options: CLIENT_TYPES, checked: ['CONFIDENTIAL'] }),
        choiceGroup({ name: 'grantTypes', legend: 'Grant types', type: 'checkbox', options: GRANT_TYPES, checked: value('grantTypes', ['AUTHORIZATION_CODE']) }),
        field({ name: 'redirectUris', label: 'Redirect URIs', hint: 'One per line. Where Tessera may send people back after sign-in; needed with authorization code.', control: area('redirectUris', value('redirectUris', []).join('\n')), wide: true }),
        field({ name: 'allowedScopes', label: 'Allowed scopes (optional)', hint: 'Separated by spaces, e.g. “read write offline_access”.', control: text('allowedScopes', { value: value('allowedScopes', []).join(' ') }), wide: true }),
        field({
          name: 'accessType',
          label: 'Access type',
          control: el('select', { id: 'client-accessType' }, ACCESS_TYPES.map(([option, title]) => el('option', { value: option, text: title, selected: value('accessType', 'ONLINE') === option }))),
        }),
        field({ name: 'accessTokenValiditySeconds', label: 'Access token lifetime (seconds)', hint: 'From 1 to 86400 (one day).', control: text('accessTokenValiditySeconds', { inputmode: 'numeric', value: String(value('accessTokenValiditySeconds', 900)) }) }),
        field({ name: 'refreshTokenValiditySeconds', label: 'Refresh token lifetime (seconds)', hint: 'From 1 to 31536000 (one year).', control: text('refreshTokenValiditySeconds', { inputmode: 'numeric', value: String(value('refreshTokenValiditySeconds', 86400)) }) }),
        field({ name: 'claims', label: 'Extra claims (optional)', hint: 'One per line as type=value; added to this client’s tokens.', control: area('claims', value('claims', []).map((claim) => `${claim.type}=${claim.value}`).join('\n')), wide: true }),
      ),
      el(
        'fieldset',
        { class: 'group' },
        el('legend', { text: 'Options' }),
        checkbox('enabled', value('enabled', true), 'Enabled', 'A disabled client gets no new tokens.'),
        checkbox('strongAuthSupported', value('strongAuthSupported', false), 'Strong authentication supported', 'The app can handle a second sign-in factor.'),
        checkbox('claimsSupported', value('claimsSupported', false), 'Claims supported', 'The app reads SAML claims in the authorization code flow.'),
      ),
      el('div', { class: 'form-actions' }, el('button', { type: 'submit', class: 'primary', id: 'client-save', text: id ? 'Save changes' : 'Create client' }), linkButton(id ? `#/clients/${enc(id)}` : '#/clients', 'Cancel', 'secondary')),
    );
    onSubmit(
      form,
      async () => {
        const payload = clientPayload(form, !id);
        if (id) {
          await api('PATCH', `api/v1/oauth-clients/${enc(id)}`, payload);
          toast('The changes were saved.');
          location.hash = `#/clients/${enc(id)}`;
        } else {
          const created = await api('POST', 'api/v1/oauth-clients', payload);
          if (created.secret) pendingReveal = { clientId: created.id, secret: created.secret };
          toast(`The client ${created.name} was created.`);
          location.hash = `#/clients/${enc(created.id)}`;
        }
      },
      { itemLabel: { redirectUris: 'Line', claims: 'Line', allowedScopes: 'Scope', grantTypes: 'Grant type' } },
    );
    return el(
      'section',
      { class: 'view' },
      el('p', { class: 'crumbs' }, el('a', { href: id ? `#/clients/${enc(id)}` : '#/clients', text: id ? `← ${client.name}` : '← OAuth clients' })),
      viewHeader(id ? `Edit ${client.name}` : 'New OAuth client', id ? '' : 'Register an application that signs people in to this tenant or calls its APIs.'),
      form,
    );
  }

  /** The form as the API's client body; empty optional fields are null (not given on a
      creation, cleared on an update). */
  function clientPayload(form, creating) {
    const get = (name) => form.querySelector(`#client-${name}`).value;
    const optional = (name) => get(name).trim() || null;
    const lines = (name) => get(name).split('\n').map((line) => line.trim()).filter(Boolean);
    const checked = (name) => [...form.querySelectorAll(`input[name="${name}"]:checked`)].map((box) => box.value);
    const payload = {
      name: get('name'),
      description: get('description'),
      businessName: optional('businessName'),
      homepageUrl: optional('homepageUrl'),
      grantTypes: checked('grantTypes'),
      redirectUris: lines('redirectUris'),
      allowedScopes: get('allowedScopes').split(/[\s,]+/).filter(Boolean),
      accessType: get('accessType'),
      accessTokenValiditySeconds: optional('accessTokenValiditySeconds'),
      refreshTokenValiditySeconds: optional('refreshTokenValiditySeconds'),
      enabled: form.querySelector('#client-enabled').checked,
      strongAuthSupported: form.querySelector('#client-strongAuthSupported').checked,
      claimsSupported: form.querySelector('#client-claimsSupported').checked,
      claims: lines('claims').map((line) => {
        const at = line.indexOf('=');
        return at < 0 ? { type: line, value: '' } : { type: line.slice(0, at).trim(), value: line.slice(at + 1).trim() };
      }),
    };
    if (creating) payload.type = checked('type')[0] || 'CONFIDENTIAL';
    return payload;
  }

  /* ---------- members ---------- */

  const memberList = { cursors: [null], page: 0 };

  async function viewMembers() {
    const results = el('div', { class: 'results' });
    const username = el('input', { type: 'text', id: 'member-username', autocomplete: 'off', spellcheck: 'false' });
    const form = el(
      'form',
      { class: 'inline-form', novalidate: true, id: 'member-form', 'aria-labelledby': 'member-form-title' },
      el('h2', { id: 'member-form-title', text: 'Add a member' }),
      formAlert(),
      el(
        'div',
        { class: 'form-row' },
        field({ name: 'username', label: 'Username', hint: 'Of a person who already has an account in Tessera.', control: username }),
        roleChoices(['member']),
        el('div', { class: 'form-row-submit' }, el('button', { type: 'submit', class: 'primary', id: 'member-add', text: 'Add member' })),
      ),
    );
    onSubmit(
      form,
      async () => {
        const roles = [...form.querySelectorAll('input[name="roles"]:checked')].map((box) => box.value);
        const added = await api('POST', `api/v1/tenants/${enc(session.tenantId)}/members`, { username: username.value.trim(), roles });
        toast(`${username.value.trim()} is now a member.`);
        form.reset();
        memberList.cursors = [null];
        memberList.page = 0;
        await loadMembers(results);
        const row = results.querySelector(`tr[data-user-id="${CSS.escape(added.userId)}"]`);
        if (row) row.classList.add('highlight');
      },
      { conflictField: 'username' },
    );
    await loadMembers(results);
    return el('section', { class: 'view' }, viewHeader('Members', 'The people of this tenant. Admins may also manage it, as you do here.'), results, el('section', { class: 'panel' }, form));
  }

  function roleChoices(checked) {
    return choiceGroup({
      name: 'roles',
      legend: 'Roles',
      type: 'checkbox',
      options: [
        ['member', 'Member', 'Signs in to the tenant’s applications.'],
        ['admin', 'Admin', 'Also manages the tenant.'],
      ],
      checked,
    });
  }

  async function loadMembers(results) {
    const cursor = memberList.cursors[memberList.page];
    let page;
    try {
      page = await api('GET', `api/v1/tenants/${enc(session.tenantId)}/members${query({ limit: PAGE_SIZE, cursor })}`);
    } catch (error) {
      results.replaceChildren(alertBox(error.message));
      return;
    }
    const members = page.items || [];
    if (!members.length) {
      results.replaceChildren(emptyState('This tenant has no members yet.', 'Add people by their username with the form below. They need an account in Tessera first.'));
      return;
    }
    // The membership names the user by id; the user's own record has the username.
    const users = await Promise.all(members.map((member) => api('GET', `api/v1/users/${enc(member.userId)}`).catch(() => null)));
    const rows = members.map((member, index) => memberRow(member, users[index], results));
    results.replaceChildren(
      el(
        'table',
        { class: 'table', id: 'members-table' },
        el('caption', { class: 'visually-hidden', text: 'Members' }),
        el('thead', {}, el('tr', {}, ['Person', 'Roles', 'Member since', ''].map((text) => el('th', { scope: 'col' }, text || el('span', { class: 'visually-hidden', text: 'Actions' }))))),
        el('tbody', {}, rows),
      ),
      pager(memberList, page.nextCursor, members.length, results, loadMembers),
    );
  }

  function memberRow(member, user, results) {
    const name = user ? user.username : member.userId;
    const roles = member.roles || [];
    const rolesCell = el('td', { 'data-label': 'Roles' }, roles.map((role) => badge(role === 'admin' ? 'Admin' : 'Member', role === 'admin' ? 'accent' : 'neutral')));
    const edit = el('button', { type: 'button', class: 'secondary small', text: 'Change roles', 'aria-label': `Change roles of ${name}` });
    const end = el('button', { type: 'button', class: 'secondary small', text: 'End sessions', 'aria-label': `End sessions of ${name}` });
    const remove = el('button', { type: 'button', class: 'danger small', text: 'Remove', 'aria-label': `Remove ${name} from the tenant` });
    const note = el('div', { class: 'row-note' });
    const row = el(
      'tr',
      { dataset: { userId: member.userId } },
      el('td', { 'data-label': 'Person' }, el('span', { class: 'strong', text: name }), user && user.displayName ? el('span', { class: 'sub', text: user.displayName }) : null, user && user.email ? el('span', { class: 'sub', text: user.email }) : null, note),
      rolesCell,
      el('td', { 'data-label': 'Member since' }, timeElement(member.createdAt)),
      el('td', { class: 'row-actions' }, edit, end, remove),
    );
    const problem = (error) => {
      if (error instanceof ApiError && error.status !== 401) note.replaceChildren(alertBox(error.message, error.causes));
    };

    edit.addEventListener('click', () => {
      const form = el('form', { class: 'roles-form', novalidate: true }, formAlert(), roleChoices(roles));
      const save = el('button', { type: 'submit', class: 'primary small', text: 'Save roles' });
      const cancel = el('button', { type: 'button', class: 'secondary small', text: 'Cancel' });
      form.append(el('div', { class: 'form-actions' }, save, cancel));
      const restore = () => {
        rolesCell.replaceChildren(...roles.map((role) => badge(role === 'admin' ? 'Admin' : 'Member', role === 'admin' ? 'accent' : 'neutral')));
        edit.hidden = false;
        edit.focus();
      };
      cancel.addEventListener('click', restore);
      onSubmit(form, async () => {
        const chosen = [...form.querySelectorAll('input[name="roles"]:checked')].map((box) => box.value);
        const updated = await api('PUT', `api/v1/tenants/${enc(session.tenantId)}/members/${enc(member.userId)}`, { roles: chosen });
        roles.splice(0, roles.length, ...(updated.roles || chosen));
        toast(`The roles of ${name} were saved.`);
        restore();
      });
      edit.hidden = true;
      rolesCell.replaceChildren(form);
      form.querySelector('input').focus();
    });

    end.addEventListener('click', async () => {
      const confirmed = await confirmAction({
        title: `End all sessions of ${name}?`,
        text: `${name} is signed out of this tenant’s applications everywhere and has to sign in again. Their membership stays.`,
        action: 'End sessions',
      });
      if (!confirmed) return;
      busy(end, async () => {
        await api('DELETE', `api/v1/tokens/${enc(member.userId)}`);
        note.replaceChildren();
        toast(`All sessions of ${name} were ended.`);
      }).catch(problem);
    });

    remove.addEventListener('click', async () => {
      const confirmed = await confirmAction({
        title: `Remove ${name} from ${session.tenantName}?`,
        text: `${name} can no longer sign in to this tenant. Their account in Tessera stays; you can add them again later.`,
        action: 'Remove member',
      });
      if (!confirmed) return;
      busy(remove, async () => {
        await api('DELETE', `api/v1/tenants/${enc(session.tenantId)}/members/${enc(member.userId)}`);
        toast(`${name} was removed from the tenant.`);
        await loadMembers(results);
        document.getElementById('view-title').focus();
      }).catch(problem);
    });
    return row;
  }

  /* ---------- session settings: the idle token timeout ---------- */

  async function viewSettings() {
    const timeout = await api('GET', 'api/v1/tokens/timeout');
    const enabled = el('input', { type: 'checkbox', id: 'idle-enabled', name: 'enableIdleTokenTimeout', checked: timeout.enableIdleTokenTimeout });
    const seconds = el('input', { type: 'text', id: 'idle-seconds', inputmode: 'numeric', value: String(timeout.idleTokenTimeoutSeconds ?? ''), autocomplete: 'off' });
    const spelled = el('p', { class: 'hint spelled', id: 'idle-spelled', 'aria-live': 'polite' });
    const current = el('p', { class: 'current', id: 'idle-current' });
    const describe = (state) => {
      current.textContent = state.enableIdleTokenTimeout
        ? `Now: a session ends after ${duration(state.idleTokenTimeoutSeconds)} without activity.`
        : 'Now: sessions stay open until their tokens expire, however long they are idle.';
    };
    const spell = () => {
      const text = duration(seconds.value.trim());
      spelled.textContent = text ? `That is ${text}.` : '';
      seconds.disabled = !enabled.checked;
    };
    describe(timeout);
    seconds.addEventListener('input', spell);
    enabled.addEventListener('change', spell);
    spell();

    // The length in words sits right under the number, before any error about it.
    const secondsField = field({ name: 'idleTokenTimeoutSeconds', label: 'Idle timeout (seconds)', control: seconds });
    seconds.after(spelled);
    seconds.setAttribute('aria-describedby', `idle-spelled ${seconds.getAttribute('aria-describedby')}`);
    const form = el(
      'form',
      { class: 'form narrow', novalidate: true, id: 'idle-form' },
      formAlert(),
      el('div', { class: 'field choice', dataset: { field: 'enableIdleTokenTimeout' } }, enabled, el('label', { for: 'idle-enabled' }, el('span', { class: 'choice-title', text: 'End idle sessions' }), el('span', { class: 'choice-detail', text: 'Sign people out when they have not used an application for a while.' })), el('p', { class: 'field-error', hidden: true })),
      secondsField,
      el('div', { class: 'form-actions' }, el('button', { type: 'submit', class: 'primary', id: 'idle-save', text: 'Save' })),
    );
    onSubmit(form, async () => {
      const raw = seconds.value.trim();
      if (raw && !/^\d+$/.test(raw)) {
        throw new ApiError(400, 'The idle timeout is invalid.', ['idleTokenTimeoutSeconds: enter a whole number of seconds']);
      }
      const saved = await api('PUT', 'api/v1/tokens/timeout', { enableIdleTokenTimeout: enabled.checked, idleTokenTimeoutSeconds: raw ? Number(raw) : null });
      describe(saved);
      seconds.value = String(saved.idleTokenTimeoutSeconds ?? '');
      spell();
      toast('The idle timeout was saved.');
    });
    return el(
      'section',
      { class: 'view' },
      viewHeader('Session settings', 'How long people of this tenant stay signed in.'),
      el('section', { class: 'panel', 'aria-labelledby': 'idle-title' }, el('h2', { id: 'idle-title', text: 'Idle token timeout' }), current, form),
      el(
        'section',
        { class: 'panel', 'aria-labelledby': 'portal-session-title' },
        el('h2', { id: 'portal-session-title', text: 'This portal session' }),
        el('p', {}, `It ends at ${formatDate(session.endsAt.toISOString())}, when you sign out, or when the tenant’s admin tokens are revoked. To come back later, open a new portal link from your application.`),
      ),
    );
  }

  /* ---------- audit log ---------- */

  const ACTIONS = {
    'oauth_client.created': 'OAuth client created',
    'oauth_client.updated': 'OAuth client changed',
    'oauth_client.deleted': 'OAuth client deleted',
    'oauth_client.secret_added': 'Client secret added',
    'oauth_client.secret_deleted': 'Client secret deleted',
    'tenant_member.added': 'Member added',
    'tenant_member.updated': 'Member’s roles changed',
    'tenant_member.removed': 'Member removed',
    'user.sessions_revoked': 'All sessions of a member ended',
    'tenant.idle_timeout_set': 'Idle timeout changed',
    'portal_link.issued': 'Portal link issued',
    'tenant_token.issued': 'Tenant admin token issued',
    'tenant_token.revoked': 'Tenant admin token revoked',
    'tenant_tokens.revoked': 'All tenant admin tokens revoked',
    'tenant.created': 'Tenant created',
    'tenant.updated': 'Tenant changed',
    'user.created': 'Person created',
    'user.updated': 'Person changed',
    'user.password_changed': 'Password changed',
  };

  function actorText(actor) {
    if (actor === 'admin') return 'Tessera administrator';
    if (actor.startsWith('tenant-admin:')) return 'Tenant admin';
    if (actor.startsWith('user:')) return `Person ${actor.slice(5)}`;
    return actor;
  }

  const auditFilter = { action: '', since: '', until: '' };

  async function viewAudit() {
    const results = el('div', { class: 'results' });
    const action = el('select', { id: 'audit-action' }, el('option', { value: '', text: 'All actions' }), Object.entries(ACTIONS).map(([code, text]) => el('option', { value: code, text, selected: auditFilter.action === code })));
    const since = el('input', { type: 'datetime-local', id: 'audit-since', value: auditFilter.since });
    const until = el('input', { type: 'datetime-local', id: 'audit-until', value: auditFilter.until });
    const reset = el('button', { type: 'button', class: 'secondary', text: 'Reset' });
    const form = el(
      'form',
      { class: 'filters', novalidate: true, id: 'audit-form', 'aria-label': 'Filter the audit log' },
      formAlert(),
      el(
        'div',
        { class: 'form-row' },
        field({ name: 'action', label: 'Action', control: action }),
        field({ name: 'since', label: 'From', control: since }),
        field({ name: 'until', label: 'Until', control: until }),
        el('div', { class: 'form-row-submit' }, el('button', { type: 'submit', class: 'primary', id: 'audit-apply', text: 'Apply' }), reset),
      ),
    );
    onSubmit(form, async () => {
      Object.assign(auditFilter, { action: action.value, since: since.value, until: until.value });
      await loadAudit(results, form, null);
    });
    reset.addEventListener('click', () => {
      Object.assign(auditFilter, { action: '', since: '', until: '' });
      action.value = '';
      since.value = '';
      until.value = '';
      clearErrors(form);
      busy(reset, () => loadAudit(results, form, null)).catch(() => {});
    });
    await loadAudit(results, form, null);
    return el('section', { class: 'view' }, viewHeader('Audit log', 'What was done in this tenant and by whom, newest first.'), form, results);
  }

  /** The first page into `results`, or with `cursor` the next one appended. */
  async function loadAudit(results, form, cursor) {
    const params = { limit: 50, cursor, action: auditFilter.action, since: localToIso(auditFilter.since), until: localToIso(auditFilter.until) };
    const page = await api('GET', `api/v1/audit-events${query(params)}`).catch((error) => {
      if (!cursor) showErrors(form, error);
      throw error;
    });
    const events = page.items || [];
    const filtered = auditFilter.action || auditFilter.since || auditFilter.until;
    if (!cursor && !events.length) {
      results.replaceChildren(filtered ? emptyState('No events match these filters.', 'Choose “All actions” or widen the time range.') : emptyState('Nothing has happened yet.', 'Changes to clients, secrets, members and settings appear here as they are made.'));
      return;
    }
    let tbody = results.querySelector('tbody');
    if (!cursor || !tbody) {
      tbody = el('tbody');
      results.replaceChildren(
        el(
          'table',
          { class: 'table', id: 'audit-table' },
          el('caption', { class: 'visually-hidden', text: 'Audit events' }),
          el('thead', {}, el('tr', {}, ['When', 'What', 'Target', 'By'].map((text) => el('th', { scope: 'col', text })))),
          tbody,
        ),
      );
    }
    for (const event of events) {
      tbody.append(
        el(
          'tr',
          {},
          el('td', { 'data-label': 'When' }, timeElement(event.occurredAt)),
          el('td', { 'data-label': 'What' }, el('span', { class: 'strong', text: ACTIONS[event.action] || event.action }), el('span', { class: 'sub' }, el('code', { text: event.action }))),
          el('td', { 'data-label': 'Target' }, el('code', { class: 'wrap', text: event.targetId })),
          el('td', { 'data-label': 'By' }, actorText(event.actor), event.requestId ? el('span', { class: 'sub', title: 'Request ID', text: event.requestId }) : null),
        ),
      );
    }
    results.querySelector('.pager')?.remove();
    if (page.nextCursor) {
      const more = el('button', { type: 'button', class: 'secondary', text: 'Show older events' });
      more.addEventListener('click', () =>
        busy(more, () => loadAudit(results, form, page.nextCursor))
          .then(() => (results.querySelector('.pager button') || document.getElementById('view-title')).focus())
          .catch(() => {}),
      );
      results.append(el('div', { class: 'pager' }, more));
    }
  }

  /* ---------- routing ---------- */

  const ROUTES = [
    [/^\/clients$/, 'clients', 'OAuth clients', viewClients],
    [/^\/clients\/new$/, 'clients', 'New client', () => viewClientForm(null)],
    [/^\/clients\/([^/]+)\/edit$/, 'clients', 'Edit client', (id) => viewClientForm(id)],
    [/^\/clients\/([^/]+)$/, 'clients', 'Client', viewClient],
    [/^\/members$/, 'members', 'Members', viewMembers],
    [/^\/settings$/, 'settings', 'Session settings', viewSettings],
    [/^\/audit$/, 'audit', 'Audit log', viewAudit],
  ];

  let generation = 0;
  let ended = false;

  async function route(focusId) {
    if (ended) return;
    const path = location.hash.replace(/^#/, '');
    const found = ROUTES.find(([pattern]) => pattern.test(path));
    if (!found) {
      history.replaceState(null, '', '#/clients');
      return route();
    }
    const [pattern, section, title, render] = found;
    const args = pattern.exec(path).slice(1).map(decodeURIComponent);
    const current = (generation += 1);
    document.querySelectorAll('nav.tabs a').forEach((link) => {
      if (link.dataset.section === section) link.setAttribute('aria-current', 'page');
      else link.removeAttribute('aria-current');
    });
    document.title = `${title} · ${session.tenantName} · Tessera`;
    if (!focusId) main.replaceChildren(loadingState());
    main.setAttribute('aria-busy', 'true');
    let view;
    try {
      view = await render(...args);
    } catch (error) {
      if (error instanceof ApiError && error.status === 401) return;
      if (!(error instanceof ApiError)) console.error(error);
      view = errorState(error);
    }
    if (current !== generation || ended) return;
    main.replaceChildren(view);
    main.removeAttribute('aria-busy');
    const focus = (focusId && document.getElementById(focusId)) || document.getElementById('view-title');
    if (focus && document.readyState === 'complete') focus.focus({ preventScroll: !!focusId });
    if (!focusId) window.scrollTo(0, 0);
  }

  /** Shows the current route again, keeping the focus on `focusId`. */
  function refresh(focusId) {
    return route(focusId);
  }

  /** The session is over (expired, signed out elsewhere, tenant gone): say so and stop. */
  function sessionEnded() {
    if (ended) return;
    ended = true;
    generation += 1;
    body.classList.add('ended');
    const banner = document.getElementById('banner');
    banner.replaceChildren(el('p', {}, el('strong', { text: 'Your portal session has ended. ' }), 'Open a new portal link from the application you manage this tenant with.'));
    banner.hidden = false;
    main.removeAttribute('aria-busy');
    main.replaceChildren(emptyState('This session is over', 'Nothing more can be changed from this page; what was saved before stays saved.'));
  }

  function start() {
    const ends = document.getElementById('session-ends');
    if (!Number.isNaN(session.endsAt.getTime())) {
      ends.textContent = `Session ends ${formatDate(session.endsAt.toISOString())}`;
      const left = session.endsAt.getTime() - Date.now();
      setTimeout(sessionEnded, Math.max(0, Math.min(left, 2 ** 31 - 1)));
    }
    window.addEventListener('hashchange', () => route());
    route();
  }

  start();
})();
