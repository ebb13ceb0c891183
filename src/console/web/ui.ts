// Tiny DOM helpers for the console: element builder, tables, side panels, dialogs,
// toasts and error banners. Text always goes in as text nodes (never innerHTML), so
// names and messages from the server cannot inject markup.

import { ApiError } from './api.js';

type Child = Node | string | number | null | undefined | false;
type Attrs = Record<string, string | number | boolean | undefined | ((e: Event) => void)>;

export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Attrs = {}, ...kids: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === false) continue;
    if (typeof v === 'function') el.addEventListener(k.replace(/^on/, ''), v);
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, String(v));
  }
  append(el, ...kids);
  return el;
}

export function append(el: Element, ...kids: Child[]): void {
  for (const k of kids) {
    if (k === null || k === undefined || k === false) continue;
    el.append(typeof k === 'object' ? k : String(k));
  }
}

export function clear(el: Element, ...kids: Child[]): void {
  el.replaceChildren();
  append(el, ...kids);
}

export function button(label: string, onclick: (e: Event) => void, kind: 'primary' | 'danger' | 'plain' | 'link' = 'plain', extra: Attrs = {}): HTMLButtonElement {
  return h('button', { type: 'button', class: `btn btn-${kind}`, onclick, ...extra }, label);
}

/** A labelled form field. */
export function field(label: string, input: HTMLElement, hint?: string): HTMLLabelElement {
  return h('label', { class: 'field' }, h('span', { class: 'field-label' }, label), input, hint ? h('span', { class: 'field-hint' }, hint) : null);
}

export function input(name: string, attrs: Attrs = {}): HTMLInputElement {
  return h('input', { name, type: 'text', autocomplete: 'off', spellcheck: 'false', ...attrs });
}

/** A select; with no options it shows `empty` and is disabled (nothing to choose). */
export function select(name: string, options: Array<[string, string]>, value?: string, attrs: Attrs = {}, empty = 'none available'): HTMLSelectElement {
  if (options.length === 0) return h('select', { name, ...attrs, disabled: true }, h('option', { value: '' }, empty));
  return h('select', { name, ...attrs }, ...options.map(([v, l]) => h('option', { value: v, selected: v === value }, l)));
}

export function textarea(name: string, value = '', attrs: Attrs = {}): HTMLTextAreaElement {
  const t = h('textarea', { name, spellcheck: 'false', rows: 14, ...attrs });
  t.value = value;
  return t;
}

export interface Column<T> {
  title: string;
  cell: (row: T) => Child;
  class?: string;
}

export function table<T>(rows: T[], columns: Column<T>[], empty = 'Nothing here yet.', testid?: string): HTMLElement {
  if (rows.length === 0) return h('div', { class: 'empty', 'data-testid': testid }, empty);
  const tbody = h('tbody', {}, ...rows.map((r) => h('tr', {}, ...columns.map((c) => h('td', { class: c.class }, c.cell(r))))));
  const heads = columns.map((c) =>
    c.title
      ? h('th', { class: `${c.class ?? ''} sortable`.trim(), 'aria-sort': 'none', tabindex: 0, title: `Sort by ${c.title.toLowerCase()}` }, c.title)
      : h('th', { class: c.class }, ''),
  );
  heads.forEach((th, i) => {
    if (!columns[i]!.title) return;
    const sort = (): void => {
      const dir = th.getAttribute('aria-sort') === 'ascending' ? -1 : 1;
      for (const other of heads) if (other.hasAttribute('tabindex')) other.setAttribute('aria-sort', 'none');
      th.setAttribute('aria-sort', dir === 1 ? 'ascending' : 'descending');
      sortRows(tbody, i, dir);
    };
    th.addEventListener('click', sort);
    th.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' || e.key === ' ') (e.preventDefault(), sort());
    });
  });
  return h('div', { class: 'table-wrap' }, h('table', { class: 'data', 'data-testid': testid }, h('thead', {}, h('tr', {}, ...heads)), tbody));
}

/** Sorts rows by one column's text: numbers (and sizes such as "3.0 MiB") by value, the rest alphabetically. */
function sortRows(tbody: HTMLElement, col: number, dir: number): void {
  const units: Record<string, number> = { B: 1, KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3, TiB: 1024 ** 4 };
  const key = (tr: Element): string | number => {
    const text = (tr.children[col]?.textContent ?? '').trim();
    const m = /^\$?(-?[\d,]+(?:\.\d+)?)\s*(B|KiB|MiB|GiB|TiB)?$/.exec(text);
    return m ? Number(m[1]!.replace(/,/g, '')) * (m[2] ? units[m[2]]! : 1) : text.toLowerCase();
  };
  const rows = Array.from(tbody.children);
  rows.sort((a, b) => {
    const x = key(a);
    const y = key(b);
    if (typeof x === 'number' && typeof y === 'number') return (x - y) * dir;
    return String(x).localeCompare(String(y)) * dir;
  });
  tbody.append(...rows);
}

export function badge(text: string, tone: 'ok' | 'warn' | 'bad' | 'info' | 'muted' = 'muted'): HTMLElement {
  return h('span', { class: `badge badge-${tone}` }, text);
}

export function mono(text: string | undefined): HTMLElement {
  return h('code', { class: 'mono' }, text ?? '');
}

/** A page heading with actions on the right. */
export function pageHeader(title: string, subtitle: string | null, ...actions: Child[]): HTMLElement {
  return h('header', { class: 'page-header' }, h('div', {}, h('h1', {}, title), subtitle ? h('p', { class: 'subtitle' }, subtitle) : null), h('div', { class: 'actions' }, ...actions));
}

// ---- errors and toasts ----

export function describeError(e: unknown): { code: string; message: string } {
  if (e instanceof ApiError) return { code: e.code, message: e.message };
  if (e instanceof Error) return { code: e.name, message: e.message };
  return { code: 'Error', message: String(e) };
}

/** An error banner with the API's code and message. */
export function errorBanner(e: unknown): HTMLElement {
  const { code, message } = describeError(e);
  return h('div', { class: 'banner banner-error', role: 'alert', 'data-testid': 'error' }, h('strong', {}, code), ' ', h('span', {}, message));
}

export function infoBanner(text: string): HTMLElement {
  return h('div', { class: 'banner banner-info', role: 'status' }, text);
}

export function toast(text: string, tone: 'ok' | 'bad' = 'ok'): void {
  let host = document.getElementById('toasts');
  if (!host) {
    host = h('div', { id: 'toasts', 'aria-live': 'polite' });
    document.body.append(host);
  }
  const t = h('div', { class: `toast toast-${tone}`, 'data-testid': 'toast' }, text);
  host.append(t);
  // The newest few only: a burst of actions should not bury the page.
  while (host.children.length > 3) host.firstElementChild!.remove();
  setTimeout(() => t.remove(), 3500);
}

/**
 * Runs an action from a button or form: the error banner goes into `errors` (the
 * panel's or page's error slot), a toast on success.
 */
export async function act(errors: HTMLElement, what: () => Promise<unknown>, success?: string): Promise<boolean> {
  clear(errors);
  try {
    await what();
    if (success) toast(success);
    return true;
  } catch (e) {
    clear(errors, errorBanner(e));
    return false;
  }
}

// ---- side panel and dialog ----

/** Opens the side panel with a title; returns its body (and closes any previous panel). */
export function panel(title: string, onClose?: () => void): { body: HTMLElement; errors: HTMLElement; close: () => void } {
  document.querySelector('.panel-backdrop')?.remove();
  const errors = h('div', { class: 'errors' });
  const body = h('div', { class: 'panel-body' });
  const close = (): void => {
    backdrop.remove();
    onClose?.();
  };
  const aside = h('aside', { class: 'panel', role: 'dialog', 'aria-label': title }, h('header', { class: 'panel-header' }, h('h2', {}, title), button('Close', close, 'link', { 'aria-label': 'Close panel' })), errors, body);
  const backdrop = h('div', { class: 'panel-backdrop' }, aside);
  backdrop.addEventListener('mousedown', (e) => {
    if (e.target === backdrop) close();
  });
  document.body.append(backdrop);
  return { body, errors, close };
}

export interface FormSpec {
  title: string;
  submit: string;
  fields: HTMLElement[];
  /** Runs on submit with the form's values; a thrown error shows in the dialog. */
  run: (values: FormData, form: HTMLFormElement) => Promise<unknown>;
  success?: string;
  danger?: boolean;
}

/** A modal form dialog; resolves true when it was submitted successfully. */
export function dialog(spec: FormSpec): Promise<boolean> {
  return new Promise((resolve) => {
    const errors = h('div', { class: 'errors' });
    const submit = h('button', { type: 'submit', class: `btn btn-${spec.danger ? 'danger' : 'primary'}` }, spec.submit);
    const form = h('form', { class: 'dialog-form' }, ...spec.fields, errors, h('div', { class: 'dialog-actions' }, button('Cancel', () => done(false)), submit));
    const dlg = h('dialog', { class: 'dialog', 'aria-label': spec.title }, h('h2', {}, spec.title), form);
    const done = (ok: boolean): void => {
      dlg.close();
      dlg.remove();
      resolve(ok);
    };
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      submit.disabled = true;
      void act(errors, () => spec.run(new FormData(form), form), spec.success).then((ok) => {
        submit.disabled = false;
        if (ok) done(true);
      });
    });
    dlg.addEventListener('cancel', (e) => {
      e.preventDefault();
      done(false);
    });
    document.body.append(dlg);
    dlg.showModal();
    (form.querySelector('input:not([type=hidden]),textarea,select') as HTMLElement | null)?.focus();
  });
}

export function confirmDialog(title: string, text: string, submitLabel: string, run: () => Promise<unknown>, success?: string): Promise<boolean> {
  return dialog({ title, submit: submitLabel, danger: true, fields: [h('p', {}, text)], run, ...(success ? { success } : {}) });
}

// ---- formatting ----

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

export function formatTime(t: string | number | undefined): string {
  if (t === undefined || t === '') return '';
  const d = typeof t === 'number' ? new Date(t * 1000) : new Date(t);
  if (Number.isNaN(d.getTime())) return String(t);
  return d.toISOString().replace('T', ' ').replace(/\.\d{3}Z$/, 'Z');
}

/** Pretty JSON for a policy editor, or the text as it is when it is not JSON. */
export function prettyJson(text: string): string {
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    return text;
  }
}

/** Runs `fn` over items with at most `limit` at once (HEADs per object, DescribeKey per key). */
export async function mapLimit<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}
