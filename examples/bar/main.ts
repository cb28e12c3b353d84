// Example "bar", used in-process: `npm install` once in this folder, then `npm start` (node --import tsx main.ts).
import { Bar } from "./ops.ts";

// A wrapped class still builds normal local objects.
const bar = new Bar();
bar.inc();
console.log(`bar.getvalue() = ${bar.getvalue()}`);
console.log(`bar.x = ${bar.x}`);
console.log(`bar.jj_guverner = ${bar.jj_guverner}`);

const five = new Bar(5);
five.inc();
five.inc();
console.log(`new Bar(5) after 2 inc() = ${five.getvalue()}`);
console.log(`bar instanceof Bar = ${bar instanceof Bar}`);
