// Children's stories from word lists and templates, in the style the demo model was trained on
// (tools/train-demo-model/data.py, Gen.story): the texts the edit workload asks to have
// rewritten. Seeded with mulberry32, so a workload is the same on every run (the draws are not
// Python's, so the stories are not data.py's own).
import { mulberry32 } from "../util/random.js";

export const GIRLS = ["Lily", "Mia", "Emma", "Anna", "Sara", "Zoe", "Lucy", "Ella", "Nora", "Ruby", "Ava", "Maya", "Rosa", "Ivy", "Hana", "Clara"];
export const BOYS = ["Tom", "Ben", "Sam", "Leo", "Max", "Jack", "Finn", "Omar", "Kai", "Noah", "Eli", "Hugo", "Ravi", "Theo", "Luca", "Owen"];
/** Each animal's sound, food and trait. */
const ANIMALS: Readonly<Record<string, readonly [string, string, string]>> = {
  cat: ["meow", "fish", "soft"], dog: ["bark", "bones", "happy"], bird: ["sing", "seeds", "small"],
  rabbit: ["hop", "carrots", "quick"], fox: ["yip", "berries", "clever"], bear: ["growl", "honey", "big"],
  duck: ["quack", "bread", "yellow"], frog: ["croak", "flies", "green"], mouse: ["squeak", "cheese", "tiny"],
  owl: ["hoot", "mice", "wise"], horse: ["neigh", "hay", "strong"], turtle: ["swim", "leaves", "slow"],
  lion: ["roar", "meat", "brave"], pig: ["oink", "apples", "pink"], cow: ["moo", "grass", "gentle"],
  squirrel: ["chatter", "nuts", "busy"], goat: ["bleat", "grass", "funny"], hen: ["cluck", "corn", "brown"],
};
const ANIMAL_NAMES = Object.keys(ANIMALS);
const PLACES = ["a small town", "a big city", "a quiet village", "a farm", "the forest", "a house by the sea", "a green valley",
  "a little house on a hill", "a busy street", "a cabin in the woods", "a sunny island", "a town near the mountains"];
const SPOTS = ["the park", "the garden", "the beach", "the river", "the market", "the library", "the school", "the lake",
  "the meadow", "the hill", "the playground", "the zoo", "the bakery", "the old bridge", "the forest", "the farm"];
export const OBJECTS = ["ball", "kite", "box", "book", "hat", "key", "shell", "stone", "map", "bell", "cup", "toy car", "blanket",
  "flower", "feather", "drum", "lamp", "boat", "bike", "basket", "coin", "ribbon", "letter", "leaf"];
const ADJS = ["red", "blue", "shiny", "old", "little", "big", "soft", "bright", "strange", "golden", "green", "heavy",
  "pretty", "round", "tiny", "yellow", "purple", "silver", "funny", "warm"];
const WEATHER = ["sunny", "rainy", "windy", "cold", "warm", "cloudy", "snowy", "bright"];
const FOODS = ["apples", "bread", "soup", "cake", "cookies", "rice", "pie", "berries", "sandwiches", "pancakes", "carrots", "cheese"];
const ACTIVITIES = ["play tag", "build a fort", "draw pictures", "read a book", "fly a kite", "sing songs", "look for shells",
  "plant flowers", "ride a bike", "bake cookies", "play hide and seek", "watch the clouds", "swim in the lake"];
const FRIEND_WORDS = ["friend", "best friend", "neighbor", "little brother", "little sister", "cousin", "grandma", "grandpa", "mom", "dad"];
const LESSONS = [
  "that sharing makes everyone happy", "that it is good to be kind", "that friends help each other",
  "that being brave is not the same as not being scared", "to always tell the truth", "to listen to others",
  "that trying again is better than giving up", "that small things can matter a lot", "to say sorry when you are wrong",
  "that it is fun to learn new things", "to be patient", "to take care of the things you love",
];

interface Hero {
  readonly name: string;
  readonly she: boolean;
  /** An animal's name, or "girl" or "boy". */
  readonly kind: string;
  readonly intro: string;
}

/** Stories drawn from one seed. */
export class StoryGen {
  private readonly rnd: () => number;

  constructor(seed: number) {
    this.rnd = mulberry32(seed);
  }

  random(): number {
    return this.rnd();
  }

  /** An integer in [lo, hi). */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.rnd() * (hi - lo));
  }

  pick<T>(xs: readonly T[]): T {
    if (xs.length === 0) throw new Error("pick from an empty list");
    return xs[this.int(0, xs.length)]!;
  }

  private hero(): Hero {
    const name = this.pick([...GIRLS, ...BOYS]);
    const she = GIRLS.includes(name);
    if (this.random() < 0.4) {
      const animal = this.pick(ANIMAL_NAMES);
      return { name, she, kind: animal, intro: `a little ${animal} named ${name}` };
    }
    const kind = she ? "girl" : "boy";
    return { name, she, kind, intro: `a ${this.pick(["little", "kind", "curious", "happy", "young"])} ${kind} named ${name}` };
  }

  /** One story of six to ten sentences, sometimes in two paragraphs. */
  story(): string {
    const h = this.hero();
    const n = h.name;
    const [he, He, his, His, him] = h.she ? ["she", "She", "her", "Her", "her"] : ["he", "He", "his", "His", "him"];
    const friend = this.pick([...GIRLS, ...BOYS].filter((x) => x !== n));
    const obj = this.pick(OBJECTS), adj = this.pick(ADJS), spot = this.pick(SPOTS);
    const out: string[] = [this.pick([
      `Once upon a time, there was ${h.intro}.`,
      `Once upon a time, in ${this.pick(PLACES)}, there lived ${h.intro}.`,
      `One ${this.pick(WEATHER)} day, ${h.intro} went to ${spot}.`,
      `There was once ${h.intro} who lived in ${this.pick(PLACES)}.`,
      `${n} was ${h.intro.split(" named ")[0]} who loved to ${this.pick(ACTIVITIES)}.`,
    ])];
    const animal = ANIMALS[h.kind];
    if (animal) {
      const [sound, food, trait] = animal;
      out.push(this.pick([`${n} was very ${trait} and liked to eat ${food}.`, `Every morning, ${n} liked to ${sound} and look for ${food}.`,
        `${He} was a ${trait} ${h.kind}, and everyone in ${spot} knew ${him}.`]));
    } else {
      out.push(this.pick([`${He} liked to ${this.pick(ACTIVITIES)} with ${his} ${this.pick(FRIEND_WORDS)}.`, `${His} favorite food was ${this.pick(FOODS)}.`,
        `${He} had a ${adj} ${obj} that ${he} took everywhere.`]));
    }
    switch (this.int(0, 5)) {
      case 0: // finds something
        out.push(`One day, ${n} found a ${adj} ${obj} near ${spot}.`,
          this.pick([`${He} wondered who it belonged to.`, `${He} had never seen anything like it before.`, `It was a very ${adj} ${obj}, and ${he} liked it at once.`]),
          this.pick([`${He} showed it to ${his} friend ${friend}.`, `${He} picked it up and ran to find ${friend}.`]),
          `"Look what I found!" said ${n}. ${friend} smiled and said, "Wow, it is so ${adj}!"`,
          this.pick([`Together they looked for the owner. At last they met an old man who had lost it. He was very ${this.pick(["happy", "glad", "thankful"])} and thanked them.`,
            `They played with the ${obj} all afternoon until the sun went down.`, `They decided to share the ${obj} and take turns with it.`]));
        break;
      case 1: { // a problem
        const lost = this.pick(OBJECTS);
        out.push(`One day, ${n} lost ${his} ${lost}. ${He} looked under the bed, in the garden and at ${spot}, but it was not there.`,
          `${n} felt ${this.pick(["sad", "worried", "upset"])}. ${He} sat down and began to cry.`,
          `Then ${friend} came by and asked, "Why are you sad, ${n}?"`,
          `"I lost my ${lost}," said ${n}. "Don't worry, I will help you," said ${friend}.`,
          this.pick([`They looked everywhere together. At last, ${friend} found the ${lost} behind a big tree.`,
            `They asked everyone they met. A kind ${this.pick(ANIMAL_NAMES)} had seen it by ${this.pick(SPOTS)}, and there it was.`,
            `After a long search, they found the ${lost} under a pile of leaves.`]),
          `${n} was so ${this.pick(["happy", "glad", "relieved"])}. "Thank you, ${friend}!" ${he} said.`);
        break;
      }
      case 2: // a trip
        out.push(`One ${this.pick(WEATHER)} morning, ${n} and ${friend} went to ${spot}.`, `They wanted to ${this.pick(ACTIVITIES)}.`,
          this.pick(["At first it was hard, but they did not give up.", "It was a lot of fun, and they laughed a lot.", "Suddenly, it started to rain. They ran under a tree and waited."]),
          this.pick([`Then they saw a ${this.pick(ADJS)} ${this.pick(ANIMAL_NAMES)} sitting by the path.`, `On the way, they met a ${this.pick(ANIMAL_NAMES)} who wanted to play too.`,
            `After a while, they ate some ${this.pick(FOODS)} and talked about their day.`]),
          `When the day was over, ${n} felt ${this.pick(["happy", "tired but happy", "proud", "calm"])}.`);
        break;
      case 3: { // learning to do something
        const act = this.pick(ACTIVITIES);
        out.push(`${n} wanted to learn to ${act}, but it was not easy.`, `The first time ${he} tried, ${he} fell down. The second time, it did not work either.`,
          `${n}'s ${this.pick(FRIEND_WORDS)} said, "Keep trying. You can do it!"`, `So ${n} tried again and again. ${He} practiced every day.`,
          `At last, ${he} could ${act} all by ${him}self! ${He} felt very ${this.pick(["proud", "happy", "excited"])}.`);
        break;
      }
      default: { // a quarrel and making up
        const toy = this.pick(OBJECTS);
        out.push(`One day, ${n} and ${friend} both wanted to play with the same ${toy}.`, `"It is mine!" said ${n}. "No, it is mine!" said ${friend}.`,
          `They pulled and pulled, and the ${toy} fell into ${this.pick(["the mud", "the river", "a puddle", "a bush"])}.`,
          `Both of them felt ${this.pick(["sad", "sorry", "bad"])}.`, `"I am sorry," said ${n}. "I am sorry too," said ${friend}. "Let's play together."`,
          `They cleaned the ${toy} and took turns. It was much more fun to play together.`);
      }
    }
    out.push(this.pick([`From that day on, ${n} and ${friend} were the best of friends.`, `${n} learned ${this.pick(LESSONS)}.`,
      `That night, ${n} went to bed with a big smile.`, "And they all lived happily ever after.", "The end."]));
    if (this.random() < 0.5) return out.join(" ");
    const mid = this.int(2, out.length);
    return `${out.slice(0, mid).join(" ")}\n\n${out.slice(mid).join(" ")}`;
  }
}
