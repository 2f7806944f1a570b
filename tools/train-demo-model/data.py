"""Synthetic English for the demo model: short stories, plain facts and ChatML chats.

Everything is generated from the word lists and templates below with a seeded random
generator, so the corpus is reproducible and carries no third-party text or license.
"""
import random
import re

SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
EOT, IM_START, IM_END = SPECIALS

GIRLS = ["Lily", "Mia", "Emma", "Anna", "Sara", "Zoe", "Lucy", "Ella", "Nora", "Ruby", "Ava", "Maya", "Rosa", "Ivy", "Hana", "Clara"]
BOYS = ["Tom", "Ben", "Sam", "Leo", "Max", "Jack", "Finn", "Omar", "Kai", "Noah", "Eli", "Hugo", "Ravi", "Theo", "Luca", "Owen"]
ANIMALS = {
    "cat": ("meow", "fish", "soft"), "dog": ("bark", "bones", "happy"), "bird": ("sing", "seeds", "small"),
    "rabbit": ("hop", "carrots", "quick"), "fox": ("yip", "berries", "clever"), "bear": ("growl", "honey", "big"),
    "duck": ("quack", "bread", "yellow"), "frog": ("croak", "flies", "green"), "mouse": ("squeak", "cheese", "tiny"),
    "owl": ("hoot", "mice", "wise"), "horse": ("neigh", "hay", "strong"), "turtle": ("swim", "leaves", "slow"),
    "lion": ("roar", "meat", "brave"), "pig": ("oink", "apples", "pink"), "cow": ("moo", "grass", "gentle"),
    "squirrel": ("chatter", "nuts", "busy"), "goat": ("bleat", "grass", "funny"), "hen": ("cluck", "corn", "brown"),
}
PLACES = ["a small town", "a big city", "a quiet village", "a farm", "the forest", "a house by the sea", "a green valley",
          "a little house on a hill", "a busy street", "a cabin in the woods", "a sunny island", "a town near the mountains"]
SPOTS = ["the park", "the garden", "the beach", "the river", "the market", "the library", "the school", "the lake",
         "the meadow", "the hill", "the playground", "the zoo", "the bakery", "the old bridge", "the forest", "the farm"]
OBJECTS = ["ball", "kite", "box", "book", "hat", "key", "shell", "stone", "map", "bell", "cup", "toy car", "blanket",
           "flower", "feather", "drum", "lamp", "boat", "bike", "basket", "coin", "ribbon", "letter", "leaf"]
ADJS = ["red", "blue", "shiny", "old", "little", "big", "soft", "bright", "strange", "golden", "green", "heavy",
        "pretty", "round", "tiny", "yellow", "purple", "silver", "funny", "warm"]
FEELINGS = ["happy", "sad", "excited", "scared", "proud", "tired", "curious", "surprised", "angry", "calm", "glad", "worried"]
WEATHER = ["sunny", "rainy", "windy", "cold", "warm", "cloudy", "snowy", "bright"]
FOODS = ["apples", "bread", "soup", "cake", "cookies", "rice", "pie", "berries", "sandwiches", "pancakes", "carrots", "cheese"]
ACTIVITIES = ["play tag", "build a fort", "draw pictures", "read a book", "fly a kite", "sing songs", "look for shells",
              "plant flowers", "ride a bike", "bake cookies", "play hide and seek", "watch the clouds", "swim in the lake"]
FRIEND_WORDS = ["friend", "best friend", "neighbor", "little brother", "little sister", "cousin", "grandma", "grandpa", "mom", "dad"]
LESSONS = [
    "that sharing makes everyone happy", "that it is good to be kind", "that friends help each other",
    "that being brave is not the same as not being scared", "to always tell the truth", "to listen to others",
    "that trying again is better than giving up", "that small things can matter a lot", "to say sorry when you are wrong",
    "that it is fun to learn new things", "to be patient", "to take care of the things you love",
]

COLORS = {"sky": "blue", "grass": "green", "sun": "yellow", "snow": "white", "night sky": "dark", "banana": "yellow",
          "strawberry": "red", "orange": "orange", "carrot": "orange", "leaf": "green", "cloud": "white", "tomato": "red",
          "lemon": "yellow", "coal": "black", "sea": "blue", "cherry": "red", "milk": "white", "pumpkin": "orange"}
FACTS = [
    ("What do bees make?", "Bees make honey. They collect nectar from flowers and turn it into honey in their hive."),
    ("Why do we sleep?", "We sleep so our body and brain can rest. Sleep helps us grow, stay healthy and remember what we learned."),
    ("What is the sun?", "The sun is a star. It is a huge ball of hot gas that gives the Earth light and warmth."),
    ("What is the moon?", "The moon is a big rock that goes around the Earth. We can see it at night because it reflects light from the sun."),
    ("Why is the sky blue?", "The sky looks blue because air scatters blue light from the sun more than other colors."),
    ("What do plants need to grow?", "Plants need water, sunlight, air and good soil to grow."),
    ("How many days are in a week?", "There are seven days in a week: Monday, Tuesday, Wednesday, Thursday, Friday, Saturday and Sunday."),
    ("How many months are in a year?", "There are twelve months in a year."),
    ("What is rain?", "Rain is water that falls from clouds. Clouds are made of tiny drops of water, and when the drops get heavy, they fall as rain."),
    ("What is a rainbow?", "A rainbow is an arc of colors in the sky. It appears when sunlight shines through drops of rain."),
    ("Why do leaves fall in autumn?", "Many trees drop their leaves in autumn to save water and energy during the cold winter."),
    ("What is ice?", "Ice is frozen water. Water turns into ice when it gets very cold."),
    ("What are the four seasons?", "The four seasons are spring, summer, autumn and winter."),
    ("What is a fish?", "A fish is an animal that lives in water. It breathes with gills and swims with its fins."),
    ("Where do penguins live?", "Most penguins live in the cold southern part of the world, near the sea, where they swim and catch fish."),
    ("What is the biggest animal?", "The blue whale is the biggest animal. It lives in the ocean and can be longer than a bus."),
    ("What does a doctor do?", "A doctor helps sick people get better and helps healthy people stay well."),
    ("What does a farmer do?", "A farmer grows food and takes care of animals on a farm."),
    ("What is a library?", "A library is a place with many books. You can read there or borrow books to take home."),
    ("What is a computer?", "A computer is a machine that follows instructions to work with numbers, words, pictures and sounds."),
    ("Why should we brush our teeth?", "We brush our teeth to keep them clean and strong and to stop them from getting holes."),
    ("What is a volcano?", "A volcano is a mountain with an opening at the top. Sometimes hot melted rock comes out of it."),
    ("What is the Earth?", "The Earth is the planet we live on. It goes around the sun once every year."),
    ("How many legs does a spider have?", "A spider has eight legs."),
    ("How many legs does an insect have?", "An insect has six legs."),
    ("What is a friend?", "A friend is someone you like and trust. Friends play together, help each other and share."),
    ("What is the opposite of hot?", "The opposite of hot is cold."),
    ("What is the opposite of big?", "The opposite of big is small."),
    ("What is the opposite of happy?", "The opposite of happy is sad."),
    ("What is the opposite of day?", "The opposite of day is night."),
    ("What is the opposite of up?", "The opposite of up is down."),
]
NUMBER_WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
                "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen", "twenty"]
SYSTEMS = ["You are a helpful assistant.", "You are a friendly assistant that gives short, clear answers.",
           "You are a helpful assistant who likes stories.", "You are a kind teacher for young children."]


class Gen:
    def __init__(self, seed):
        self.r = random.Random(seed)

    def pick(self, xs):
        return self.r.choice(xs)

    def hero(self, kind=None):
        r = self.r
        if kind in ANIMALS or (kind is None and r.random() < 0.4):
            animal = kind or self.pick(list(ANIMALS))
            name = self.pick(GIRLS + BOYS)
            he = "she" if name in GIRLS else "he"
            return {"name": name, "he": he, "kind": animal, "intro": f"a little {animal} named {name}"}
        name = self.pick(GIRLS if kind == "girl" else BOYS if kind == "boy" else GIRLS + BOYS)
        he = "she" if name in GIRLS else "he"
        kind = "girl" if he == "she" else "boy"
        return {"name": name, "he": he, "kind": kind, "intro": f"a {self.pick(['little', 'kind', 'curious', 'happy', 'young'])} {kind} named {name}"}

    # --- stories ------------------------------------------------------------------------
    def story(self, kind=None):
        r = self.r
        h = self.hero(kind)
        n, he = h["name"], h["he"]
        His = "Her" if he == "she" else "His"
        his = His.lower()
        him = "her" if he == "she" else "him"
        He = he.capitalize()
        friend = self.pick([x for x in GIRLS + BOYS if x != n])
        obj = self.pick(OBJECTS)
        adj = self.pick(ADJS)
        spot = self.pick(SPOTS)
        feel = self.pick(FEELINGS)
        out = []
        opening = self.pick([
            f"Once upon a time, there was {h['intro']}.",
            f"Once upon a time, in {self.pick(PLACES)}, there lived {h['intro']}.",
            f"One {self.pick(WEATHER)} day, {h['intro']} went to {spot}.",
            f"There was once {h['intro']} who lived in {self.pick(PLACES)}.",
            f"{n} was {h['intro'].split(' named ')[0]} who loved to {self.pick(ACTIVITIES)}.",
        ])
        out.append(opening)
        if h["kind"] in ANIMALS:
            sound, food, trait = ANIMALS[h["kind"]]
            out.append(self.pick([
                f"{n} was very {trait} and liked to eat {food}.",
                f"Every morning, {n} liked to {sound} and look for {food}.",
                f"{He} was a {trait} {h['kind']}, and everyone in {spot} knew {him}.",
            ]))
        else:
            out.append(self.pick([
                f"{He} liked to {self.pick(ACTIVITIES)} with {his} {self.pick(FRIEND_WORDS)}.",
                f"{His} favorite food was {self.pick(FOODS)}.",
                f"{He} had a {adj} {obj} that {he} took everywhere.",
            ]))
        kind = r.randrange(5)
        if kind == 0:  # finds something
            out += [
                f"One day, {n} found a {adj} {obj} near {spot}.",
                self.pick([f"{He} wondered who it belonged to.", f"{He} had never seen anything like it before.",
                           f"It was a very {adj} {obj}, and {he} liked it at once."]),
                self.pick([f"{He} showed it to {his} friend {friend}.", f"{He} picked it up and ran to find {friend}."]),
                f"\"Look what I found!\" said {n}. {friend} smiled and said, \"Wow, it is so {adj}!\"",
                self.pick([
                    f"Together they looked for the owner. At last they met an old man who had lost it. He was very {self.pick(['happy', 'glad', 'thankful'])} and thanked them.",
                    f"They played with the {obj} all afternoon until the sun went down.",
                    f"They decided to share the {obj} and take turns with it.",
                ]),
            ]
        elif kind == 1:  # a problem
            lost = self.pick(OBJECTS)
            out += [
                f"One day, {n} lost {his} {lost}. {He} looked under the bed, in the garden and at {spot}, but it was not there.",
                f"{n} felt {self.pick(['sad', 'worried', 'upset'])}. {He} sat down and began to cry.",
                f"Then {friend} came by and asked, \"Why are you sad, {n}?\"",
                f"\"I lost my {lost},\" said {n}. \"Don't worry, I will help you,\" said {friend}.",
                self.pick([f"They looked everywhere together. At last, {friend} found the {lost} behind a big tree.",
                           f"They asked everyone they met. A kind {self.pick(list(ANIMALS))} had seen it by {self.pick(SPOTS)}, and there it was.",
                           f"After a long search, they found the {lost} under a pile of leaves."]),
                f"{n} was so {self.pick(['happy', 'glad', 'relieved'])}. \"Thank you, {friend}!\" {he} said.",
            ]
        elif kind == 2:  # a trip
            weather = self.pick(WEATHER)
            act = self.pick(ACTIVITIES)
            out += [
                f"One {weather} morning, {n} and {friend} went to {spot}.",
                f"They wanted to {act}.",
                self.pick([f"At first it was hard, but they did not give up.", f"It was a lot of fun, and they laughed a lot.",
                           f"Suddenly, it started to rain. They ran under a tree and waited."]),
                self.pick([f"Then they saw a {self.pick(ADJS)} {self.pick(list(ANIMALS))} sitting by the path.",
                           f"On the way, they met a {self.pick(list(ANIMALS))} who wanted to play too.",
                           f"After a while, they ate some {self.pick(FOODS)} and talked about their day."]),
                f"When the day was over, {n} felt {self.pick(['happy', 'tired but happy', 'proud', 'calm'])}.",
            ]
        elif kind == 3:  # learning to do something
            act = self.pick(ACTIVITIES)
            out += [
                f"{n} wanted to learn to {act}, but it was not easy.",
                f"The first time {he} tried, {he} fell down. The second time, it did not work either.",
                f"{n}'s {self.pick(FRIEND_WORDS)} said, \"Keep trying. You can do it!\"",
                f"So {n} tried again and again. {He} practiced every day.",
                f"At last, {he} could {act} all by {him}self! {He} felt very {self.pick(['proud', 'happy', 'excited'])}.",
            ]
        else:  # a conflict and making up
            toy = self.pick(OBJECTS)
            out += [
                f"One day, {n} and {friend} both wanted to play with the same {toy}.",
                f"\"It is mine!\" said {n}. \"No, it is mine!\" said {friend}.",
                f"They pulled and pulled, and the {toy} fell into {self.pick(['the mud', 'the river', 'a puddle', 'a bush'])}.",
                f"Both of them felt {self.pick(['sad', 'sorry', 'bad'])}.",
                f"\"I am sorry,\" said {n}. \"I am sorry too,\" said {friend}. \"Let's play together.\"",
                f"They cleaned the {toy} and took turns. It was much more fun to play together.",
            ]
        ending = self.pick([
            f"From that day on, {n} and {friend} were the best of friends.",
            f"{n} learned {self.pick(LESSONS)}.",
            f"That night, {n} went to bed with a big smile.",
            f"And they all lived happily ever after.",
            f"The end.",
        ])
        out.append(ending)
        if r.random() < 0.5:
            text = " ".join(out)
        else:
            mid = r.randrange(2, len(out))
            text = " ".join(out[:mid]) + "\n\n" + " ".join(out[mid:])
        return text

    # --- facts and questions ------------------------------------------------------------
    def arithmetic(self):
        r = self.r
        a, b = r.randrange(0, 11), r.randrange(0, 11)
        if r.random() < 0.5:
            q = self.pick([f"What is {a} plus {b}?", f"What is {a} + {b}?", f"How much is {a} and {b}?", f"Can you add {a} and {b}?"])
            return q, self.pick([f"{a} plus {b} is {a + b}.", f"{a} + {b} = {a + b}.", f"The answer is {a + b}."])
        a, b = max(a, b), min(a, b)
        q = self.pick([f"What is {a} minus {b}?", f"What is {a} - {b}?", f"If I have {a} apples and eat {b}, how many are left?"])
        if "apples" in q:
            return q, f"You have {a - b} apples left, because {a} minus {b} is {a - b}."
        return q, self.pick([f"{a} minus {b} is {a - b}.", f"{a} - {b} = {a - b}.", f"The answer is {a - b}."])

    def qa(self):
        r = self.r
        k = r.randrange(8)
        if k == 0:
            thing = self.pick(list(COLORS))
            return self.pick([f"What color is the {thing}?", f"What color is a {thing}?"]).replace("a orange", "an orange"), \
                f"The {thing} is {COLORS[thing]}." if r.random() < 0.5 else f"A {thing} is usually {COLORS[thing]}.".replace("A orange", "An orange")
        if k == 1:
            a = self.pick(list(ANIMALS))
            sound, food, trait = ANIMALS[a]
            return self.pick([f"What does a {a} eat?", f"What do {a}s like to eat?"]).replace("mouses", "mice"), \
                f"A {a} likes to eat {food}." if a != "owl" else "An owl likes to eat mice and other small animals."
        if k == 2:
            a = self.pick(list(ANIMALS))
            sound = ANIMALS[a][0]
            return f"What sound does a {a} make?".replace("a owl", "an owl"), f"A {a} can {sound}.".replace("A owl", "An owl")
        if k == 3:
            return self.arithmetic()
        if k == 4:
            n = r.randrange(0, 20)
            return self.pick([f"What comes after {n}?", f"Which number comes after {NUMBER_WORDS[n]}?"]), \
                f"{n + 1} comes after {n}." if r.random() < 0.5 else f"After {NUMBER_WORDS[n]} comes {NUMBER_WORDS[n + 1]}."
        if k == 5:
            w = self.pick(["cat", "dog", "sun", "tree", "book", "fish", "star", "cake", "moon", "bird", "milk", "rain"])
            return f"How do you spell {w}?", f"{w.capitalize()} is spelled {'-'.join(w.upper())}."
        return self.pick(FACTS)

    # --- chat ---------------------------------------------------------------------------
    def chat_reply(self, user):
        """A (user message, assistant reply) pair."""
        r = self.r
        k = r.randrange(12)
        if k <= 3:
            return self.qa()
        if k == 4:
            h = self.pick(list(ANIMALS) + ["girl", "boy"])
            q = self.pick([f"Tell me a story about a {h}.", f"Can you tell me a short story about a {h}?", f"Write a story about a {h}.",
                           "Tell me a story.", "Tell me a bedtime story."])
            s = self.story(h if h in q else None)
            return q, s
        if k == 5:
            return self.pick(["Hello!", "Hi!", "Hi there!", "Hello, how are you?", "Good morning!", "Hey!"]), \
                self.pick(["Hello! How can I help you today?", "Hi! I am happy to help. What would you like to talk about?",
                           "Hello! I am doing well, thank you. How can I help you?", "Good morning! What can I do for you today?"])
        if k == 6:
            return self.pick(["Who are you?", "What is your name?", "What are you?", "What can you do?"]), \
                self.pick(["I am a small demo language model made with radixlm. I can answer simple questions and tell short stories.",
                           "I am the radixlm demo model. I am very small, so I know simple things: stories, colors, animals and easy math.",
                           "I am a tiny assistant trained by the radixlm project. Ask me for a story or a simple fact!"])
        if k == 7:
            return self.pick(["Thank you!", "Thanks!", "Thank you very much.", "Thanks for your help."]), \
                self.pick(["You are welcome!", "You're welcome! Have a nice day.", "Happy to help!", "You are welcome. Ask me anything else!"])
        if k == 8:
            f = self.pick(FEELINGS)
            return self.pick([f"I feel {f} today.", f"I am {f}."]), self.feeling_reply(f)
        if k == 9:
            a = self.pick(list(ANIMALS))
            sound, food, trait = ANIMALS[a]
            return self.pick([f"Tell me about {a}s.", f"What is a {a}?"]).replace("mouses", "mice"), \
                f"A {a} is an animal. Many {a}s are {trait}, and they like to eat {food}. A {a} can {sound}.".replace("mouses", "mice").replace("A owl", "An owl")
        if k == 10:
            act = self.pick(ACTIVITIES)
            return self.pick(["What should I do today?", "I am bored. What can I do?", "Give me an idea for a fun day."]), \
                f"You could {act}. " + self.pick(["It is a lot of fun!", "You could also ask a friend to join you.",
                                                  f"If it is {self.pick(WEATHER)}, you could go to {self.pick(SPOTS)} too."])
        w = self.pick(["cat", "dog", "sun", "tree", "house", "ball", "car", "bird"])
        return f"Write a sentence with the word {w}.", \
            self.pick([f"The {w} is {self.pick(ADJS)}.", f"I saw a {self.pick(ADJS)} {w} at {self.pick(SPOTS)}.",
                       f"My friend has a {w} that is very {self.pick(ADJS)}."])

    def feeling_reply(self, f):
        good = f in ("happy", "excited", "proud", "glad", "calm", "curious")
        if good:
            return self.pick([f"That is great! I am glad you feel {f}.", f"How nice! What made you feel {f}?"])
        return self.pick([f"I am sorry you feel {f}. Would you like to talk about it?",
                          f"It is okay to feel {f} sometimes. Maybe a walk or a friend can help."])

    def chat(self):
        r = self.r
        parts = []
        if r.random() < 0.35:
            parts.append(f"{IM_START}system\n{self.pick(SYSTEMS)}{IM_END}\n")
        for _ in range(1 if r.random() < 0.7 else 2):
            q, a = self.chat_reply(None)
            parts.append(f"{IM_START}user\n{q}{IM_END}\n{IM_START}assistant\n{a}{IM_END}\n")
        return "".join(parts)

    def qa_text(self):
        lines = []
        for _ in range(self.r.randrange(2, 5)):
            q, a = self.qa()
            lines.append(f"Q: {q}\nA: {a}")
        return "\n\n".join(lines)

    def document(self):
        x = self.r.random()
        if x < 0.5:
            return self.story() + EOT
        if x < 0.6:
            return self.qa_text() + EOT
        return self.chat()


def documents(seed, count):
    g = Gen(seed)
    return [g.document() for _ in range(count)]


# --- edits: "rewrite this text with this change" ----------------------------------------
# The use speculative decoding is for: the reply copies the text with one change made, so
# most of its tokens already stand in the prompt. A separate generator, so that documents()
# (and with it the tokenizer's training slice and the held-out text) stay as they were.
EDIT_COLORS = ["red", "blue", "green", "yellow", "purple", "golden", "silver", "pink", "brown", "white", "black", "orange"]
COUNTED = ["apples", "cookies", "shells", "stones", "books", "flowers", "coins", "birds", "boats", "cakes", "leaves", "toys"]


def replace_word(text, old, new):
    return re.sub(r"\b" + re.escape(old) + r"\b", new, text)


class EditGen(Gen):
    # Share of edit texts given random words (noisy); 0 keeps the generator's first stream.
    noise = 0.0

    def edit_text(self):
        """One or two stories, with a coloured thing and a number in them."""
        r = self.r
        text = self.story()
        if r.random() < 0.35:
            more = self.story()
            # Both texts, prompt and reply, fit the model's 512-token context.
            if len(text) + len(more) < 1000:
                text += "\n\n" + more
        sentences = text.split(". ")
        name = re.search(r"named (\w+)", text) or re.search(r"^(\w+)", text)
        who = name.group(1) if name else "The child"
        extra = [
            f"{who} had {r.randrange(2, 13)} {self.pick(COUNTED)} in a {self.pick(EDIT_COLORS)} bag",
            f"{who} was {r.randrange(3, 11)} years old and had a {self.pick(EDIT_COLORS)} {self.pick(OBJECTS)}",
            f"There were {r.randrange(2, 20)} {self.pick(COUNTED)} on the {self.pick(EDIT_COLORS)} table",
        ]
        for e in r.sample(extra, r.randrange(1, 3)):
            sentences.insert(r.randrange(1, len(sentences) + 1), e)
        return ". ".join(sentences)

    def noisy(self, text):
        """The text with a share of its words swapped for words drawn at random: the story's
        template no longer predicts it, so a reply that repeats it has to copy."""
        r = self.r
        share = r.uniform(0.1, 0.6)
        words = GIRLS + BOYS + list(ANIMALS) + OBJECTS + ADJS + FOODS + FEELINGS + WEATHER

        def swap(m):
            # Colours stay, so that a colour edit always finds one.
            w = m.group(0)
            return self.pick(words) if w not in EDIT_COLORS and r.random() < share else w
        return re.sub(r"\b[a-z]{3,}\b", swap, text)

    def word_salad(self, short=False):
        """Sentences of words drawn at random: text no story model can guess, so only copying writes it."""
        r = self.r
        words = GIRLS + BOYS + list(ANIMALS) + OBJECTS + ADJS + FOODS + FEELINGS + WEATHER + [s.split()[-1] for s in SPOTS]
        out = []
        for _ in range(r.randrange(1, 4) if short else r.randrange(3, 9)):
            ws = [self.pick(words) if r.random() < 0.9 else str(r.randrange(1, 100)) for _ in range(r.randrange(5, 13))]
            line = " ".join(ws)
            out.append(line[0].upper() + line[1:] + self.pick([".", ".", ".", "!", "?"]))
        return " ".join(out)

    def copy(self, short=False):
        """A ChatML chat: the user asks for a text of random words repeated, or repeated with one word replaced."""
        r = self.r
        text = self.word_salad(short)
        words = sorted(set(re.findall(r"\b[a-z]{3,}\b", text)))
        if r.random() < 0.5 or not words:
            ask = self.pick(["Repeat this text exactly.", "Copy this text.", "Write this text again, word for word."])
            return self.edit_chat(ask, text, text)
        old = self.pick(words)
        new = self.pick([w for w in ADJS + OBJECTS + FOODS if w not in words and " " not in w])
        ask = self.pick([f"Replace the word {old} with {new}.", f"Change {old} to {new}."])
        return self.edit_chat(ask, text, replace_word(text, old, new))

    def edit(self):
        """A ChatML chat: the user asks for the text rewritten with one change; the reply is that text."""
        r = self.r
        if r.random() < 0.4:
            return self.copy()
        text = self.edit_text()
        if self.noise > 0 and r.random() < self.noise:
            text = self.noisy(text)
        k = r.randrange(4)
        if k == 0:
            names = [n for n in GIRLS + BOYS if re.search(r"\b" + n + r"\b", text)]
            old = self.pick(names) if names else None
            if old:
                new = self.pick([n for n in GIRLS + BOYS if n not in names])
                ask = self.pick([f"Change the name {old} to {new}.", f"Rewrite the text with {new} instead of {old}.",
                                 f"Replace the name {old} with {new}."])
                return self.edit_chat(ask, text, replace_word(text, old, new))
            k = 1
        if k == 1:
            colors = [c for c in EDIT_COLORS if re.search(r"\b" + c + r"\b", text)]
            old = self.pick(colors)
            new = self.pick([c for c in EDIT_COLORS if c not in colors])
            ask = self.pick([f"Change the color {old} to {new}.", f"Make everything that is {old} {new} instead.",
                             f"Replace the word {old} with {new}."])
            return self.edit_chat(ask, text, replace_word(text, old, new))
        if k == 2:
            numbers = sorted(set(re.findall(r"\b\d+\b", text)))
            old = self.pick(numbers)
            new = str(self.pick([n for n in range(2, 30) if str(n) not in numbers]))
            ask = self.pick([f"Change the number {old} to {new}.", f"Replace {old} with {new}.",
                             f"Rewrite the text so that it says {new} instead of {old}."])
            return self.edit_chat(ask, text, replace_word(text, old, new))
        sentences = [x for x in re.split(r"(?<=[.!?])\s+", text) if 20 < len(x) < 120 and '"' not in x]
        old = self.pick(sentences)
        new = self.pick([x for x in re.split(r"(?<=[.!?])\s+", self.story()) if 20 < len(x) < 120 and '"' not in x])
        ask = self.pick([f"Replace the sentence \"{old}\" with \"{new}\".", f"Change \"{old}\" to \"{new}\"."])
        return self.edit_chat(ask, text, text.replace(old, new, 1))

    def edit_chat(self, ask, text, rewritten):
        lead = self.pick(["Rewrite this text. ", "Please rewrite the text below. ", "", "Edit this story. "])
        if self.r.random() < 0.5:
            user = f"{lead}{ask}\n\n{text}"
        else:
            user = f"{text}\n\n{lead}{ask}"
        return f"{IM_START}user\n{user}{IM_END}\n{IM_START}assistant\n{rewritten}{IM_END}\n"


def edit_documents(seed, count, noise=0.0):
    g = EditGen(seed)
    g.noise = noise
    return [g.edit() for _ in range(count)]


if __name__ == "__main__":
    for d in documents(1, 4) + edit_documents(3, 4):
        print(d)
        print("-----")
