// Where a part of a JSON document sits in its text, so an error's `loc` (["layers", 3, "kernel_size"])
// can be shown in the editor. Returns {start, end, line} of the deepest part of the path that exists
// (the whole layer when the field is missing), or null when the text is not valid JSON.
"use strict";

function locateJsonPath(text, path) {
  let position = 0;
  const skipSpace = () => {
    while (position < text.length && " \t\r\n".includes(text[position])) position++;
  };
  const expect = (character) => {
    skipSpace();
    if (text[position] !== character) throw new SyntaxError(`expected ${character} at ${position}`);
    position++;
  };
  const readString = () => {
    const start = position;
    position++;
    while (position < text.length && text[position] !== '"') position += text[position] === "\\" ? 2 : 1;
    position++;
    return JSON.parse(text.slice(start, position));
  };

  // Reads one value. `rest` is the path still to follow inside it, or null when off the path.
  function readValue(rest) {
    skipSpace();
    const start = position;
    let deeper = null;
    const opener = text[position];
    if (opener === "{" || opener === "[") {
      const closer = opener === "{" ? "}" : "]";
      position++;
      skipSpace();
      let index = 0;
      while (text[position] !== closer) {
        let key = index;
        if (opener === "{") {
          skipSpace();
          key = readString();
          expect(":");
        }
        const onPath = rest !== null && rest.length > 0 && rest[0] === key;
        const found = readValue(onPath ? rest.slice(1) : null);
        if (onPath) deeper = found;
        skipSpace();
        if (text[position] === ",") position++;
        else if (text[position] !== closer) throw new SyntaxError(`expected , or ${closer} at ${position}`);
        index++;
        skipSpace();
      }
      position++;
    } else if (opener === '"') {
      readString();
    } else {
      const match = /^-?[\w.+-]+/.exec(text.slice(position));
      if (!match) throw new SyntaxError(`unexpected character at ${position}`);
      position += match[0].length;
    }
    return deeper || { start, end: position };
  }

  try {
    const range = readValue(path);
    return { ...range, line: text.slice(0, range.start).split("\n").length };
  } catch {
    return null;
  }
}
