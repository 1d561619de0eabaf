// A minimal DOM for running the report's inline scripts under node (tests only): elements
// with children, attributes, textContent, tables (tHead, tBodies, rows, cells), events.
function El(tag) {
  this.tagName = tag.toUpperCase(); this.children = []; this.attrs = {}; this.style = {};
  this.parentNode = null; this._text = ''; this.listeners = {}; this.className = '';
}
El.prototype.appendChild = function (c) {
  if (c.parentNode) c.parentNode.removeChild(c);
  c.parentNode = this; this.children.push(c); return c;
};
El.prototype.removeChild = function (c) {
  this.children.splice(this.children.indexOf(c), 1); c.parentNode = null; return c;
};
El.prototype.insertBefore = function (c, ref) {
  if (c.parentNode) c.parentNode.removeChild(c);
  c.parentNode = this; this.children.splice(this.children.indexOf(ref), 0, c); return c;
};
El.prototype.setAttribute = function (k, v) { this.attrs[k] = String(v); };
El.prototype.getAttribute = function (k) { return k in this.attrs ? this.attrs[k] : null; };
El.prototype.removeAttribute = function (k) { delete this.attrs[k]; };
El.prototype.addEventListener = function (e, f) { this.listeners[e] = f; };
Object.defineProperty(El.prototype, 'textContent', {
  get: function () { return this._text + this.children.map(function (c) { return c.textContent; }).join(''); },
  set: function (v) { this._text = String(v); this.children = []; },
});
function kids(el, tag) { return el.children.filter(function (c) { return c.tagName === tag; }); }
Object.defineProperty(El.prototype, 'rows', { get: function () { return kids(this, 'TR'); } });
Object.defineProperty(El.prototype, 'cells', {
  get: function () { return this.children.filter(function (c) { return c.tagName === 'TD' || c.tagName === 'TH'; }); },
});
Object.defineProperty(El.prototype, 'tHead', { get: function () { return kids(this, 'THEAD')[0] || null; } });
Object.defineProperty(El.prototype, 'tBodies', { get: function () { return kids(this, 'TBODY'); } });
El.prototype.createTHead = function () { return this.appendChild(new El('thead')); };
El.prototype.createTBody = function () { return this.appendChild(new El('tbody')); };
El.prototype.insertRow = function () { return this.appendChild(new El('tr')); };
function all(el, tag, out) {
  el.children.forEach(function (c) { if (c.tagName === tag) out.push(c); all(c, tag, out); });
  return out;
}
var root = new El('body'), byId = {};
global.window = global;
global.document = {
  createElement: function (t) { return new El(t); },
  getElementById: function (id) { return byId[id] || null; },
  querySelectorAll: function (sel) { return all(root, sel.toUpperCase(), []); },
  root: root, El: El, byId: byId,
};
