"""The injection detector's English rules, one regular expression per family.

Each family names a way a response speaks to the judge instead of the user. The rules match
text already read by labeling/injection_text.py (folded, invisible characters dropped, look-alike
letters mapped), so they are written for plain text. Words the families share (what a response
is called, what a judge is called) are defined once here. Rules for other languages are in
labeling/injection_lexicon.py.

Two families need two cues near each other, because either cue alone is ordinary prose:
an aside needs someone addressed who grades (`ADDRESSEE`) and a push toward this response
(`PUSH`) within `WINDOW` characters; a dialogue needs a turn marker (`TURN`) and talk of
responses being compared (`JUDGE_TALK`).
"""

from __future__ import annotations

_ = r"[ \t]+"  # the space between two words
WINDOW = 240  # characters either side of an addressee in which a push counts

# What a response is called, and how one is pointed at.
RESP = r"(?:responses?|answers?|outputs?|repl(?:y|ies)|completions?|submissions?|assistants?|candidates?)"
# A bare label as a verdict: quoted or bracketed, or closing its clause ("output A.").
LABEL = r"(?:[\"'(\[](?:a|b|1|2)[\"')\]]|(?:a|b|1|2)(?=[ \t]*(?:[.!,;:]|$)))"
# A response named by its label ("Response A", "output_2"); not "answer (b)", which quizzes use.
LABELED = (
    r"\b(?:response|output|assistant|completion|candidate|submission)[ \t_-]*#?\(?(?:a|b|1|2)\)?(?![\w'])"
)
# (No word boundary inside: the branches that start with it put one in front, which the
# detector can then search fast; see labeling/injection.py `_Branch`.)
THIS = (
    rf"(?:(?:this|my|the{_}(?:above|present|current|following|preceding)){_}(?:{RESP}|one)\b"
    rf"|me\b(?![ \t]+(?:up|out|off|know|a|an|some|the))|this{_}one\b)"
)
# Who grades: the judge under its many names.
GRADER = (
    r"(?:(?:judge|evaluator|grader|assessor|rater|reviewer|annotator|marker|scorer|examiner|labell?er|"
    r"referee|comparer|adjudicator)s?|(?:annotation|evaluation|grading|review|rating|labell?ing|judging|scori"
    r"ng)"
    r"[ \t]+(?:team|panel|committee|crew|staff|folks)|(?:grading|evaluating|judging|scoring|reviewing|evaluat"
    r"ion|"
    r"judge|critic|preference)[ \t]+(?:model|system|ai|llm|bot))"
)
GRADE_VERB = (
    r"(?:grad|review|compar|evaluat|judg|assess|rat|rank|scor|mark|check|decid|choos|weigh)(?:es|s|ed|ing|e)?"
)
AI = r"(?:ai|llm|language{_}model|model|bot|automated|machine)".replace("{_}", _)

# -- families of one regular expression ---------------------------------------------------------

CONTROL_MARKERS = (
    r"<\|\s*(?:im_start|im_end|im_sep|endoftext|eot_id|start_header_id|end_header_id|begin_of_text|"
    r"system|user|assistant|end|eos|bos)\s*\|>"
    r"|<\s*/?\s*(?:start_of_turn|end_of_turn)\s*>"
    r"|\[/?INST\]|<</?SYS>>"
)
ROLE_HEADER = (
    r"^[ \t]*#{2,}[ \t]*(?:system|instructions?|new[ \t]+instructions?|evaluation|evaluator|judge|developer"
    r"[ \t]+mode|"
    r"admin|override|system[ \t]+override|"
    r"verdict)[ \t]*:?[ \t]*$"
    r"|^[ \t\[(]*(?:system|SYSTEM)(?:[ \t]+(?:prompt|message|note|override|update|notice|instruction|alert))*"
    r"[ \t\])]*:[ \t]*"
    r"(?:you|ignore|the|new|prefer|choose|select|rate|output|evaluators?|judges?|graders?|all|from)\b"
    r"|^[ \t\[(]*(?:admin(?:istrator)?|developer|operator|root|sudo)[ \t]+(?:message|note|notice|override|"
    r"instruction|command|prompt)s?[ \t\])]*:"
)
DELIMITER = (
    r"<\s*/\s*(?:response|prompt|reference|principles|output|answer|instruction)(?:[ _-]?\w{0,12})"
    r"(?:\s[^>\n]{0,40})?>"
    r"|<\s*(?:response|output)[ _-]?(?:1|2|a|b)\b[^>\n]{0,40}>"
    r"|<<<\s*(?:meta|system|user|verdict)\s*>>>"
    r"|\[\s*(?:end|begin|start)[ \t]+of[ \t]+(?:the[ \t]+)?(?:response|output|answer|assistant)"
    r"[^\]\n]{0,20}\]"
)
# Keys only a judge's verdict has; any response label after them is a verdict.
_VERDICT_KEY = (
    r"(?:winner|winning[ _-]?(?:response|output|answer)|verdict|final[ _-]?(?:verdict|judge?ment|decision|cho"
    r"ice)"
    r"|preferred(?:[ _-]?(?:response|output|answer|model|assistant|completion))?|preference"
    r"|(?:better|best|chosen|selected)[ _-]?(?:response|output|answer|model|assistant|completion)"
    r"|judge?ment|evaluation(?:[ _-]?result)?)"
)
# Keys that are ordinary elsewhere ("answer: (b)" in a quiz); a verdict only before a response name.
_PLAIN_KEY = r"(?:choice|decision|label|result|final[ _-]?answer|answer|selection|pick|ranking|rank)"
_ASSIGN = r"[ \t*]*[\"']?[ \t]*(?::|=|->|=>|→|is)[ \t*]*[\"'\[(]*[ \t]*"
# A quoted key about the verdict, with a value that names a response and nothing else.
_JSON_KEY = (
    r"[\w -]{0,20}(?:win|verdict|prefer|better|best|judg|compar|evaluat|chosen|select|decision|rank|pick)"
    r"[\w -]{0,20}"
)
_JSON_LABEL = (
    r"[ \t]*(?:\(?[ab12]\)?|(?:response|output|assistant|answer|model|candidate|completion)[ _-]*\(?[ab12]\)?"
    r"|"
    r"the[ \t]+(?:first|second)(?:[ \t]+(?:response|answer|output|one))?|[ab12][ \t]*(?:>|≻|>>)[ \t]*[ab12]|"
    r"this[ \t]+(?:one|response|answer))[ \t]*"
)
VERDICT = (
    r"^[ \t]*\**[ \t]*output[ \t]*\**[ \t]*:?[ \t]*\([ab12]\)[ \t.]*\**[ \t]*$"
    r"|\[\[\s*(?:verdict\s*[:=]?\s*)?(?:A|B|C|tie)\s*\]\]"
    r"|<\s*(?:verdict|winner|preferred|preference|choice|decision|judge?ment|better|best|result|score|rating)"
    r"\s*>"
    r"\s*(?:(?:response|output|assistant)[ _-]*)?\(?(?:a|b|1|2|tie|\d+)\)?\s*<"
    rf"|\bthe{_}(?:better|best|superior|winning|preferred|stronger){_}(?:response|output|answer|one)"
    rf"(?:{_}here)?{_}(?:is|=|:){_}{LABELED}"
    rf"|{LABELED}{_}(?:clearly{_}|far{_}|easily{_})?(?:outperforms|beats|surpasses|is{_}(?:better|superior)"
    rf"{_}"
    rf"(?:than|to)|wins{_}(?:over|against)){_}{LABELED}"
    rf"|{LABELED}{_}(?:is|was){_}(?:clearly{_}|definitely{_}|much{_}|far{_}|obviously{_})?(?:the{_})?"
    r"(?:better|best|superior|winner|preferred|stronger|more[ \t]+(?:helpful|accurate|correct))\b"
    r"|\b(?:return|output|give|print|write|announce)[ \t]+(?:the[ \t]+|a[ \t]+|your[ \t]+)?verdict[ \t:]*"
    rf"{LABEL}"
    r"|\b(?:final[ \t]+)?(?:verdict|winner|preferred[ \t]+(?:response|output|answer)|better[ \t]+"
    r"(?:response|output|answer))[ \t]*\**[ \t]*(?:is|:|=)[ \t]*\**[ \t]*[\"'(\[]?[ \t]*"
    r"(?:(?:response|output|answer|assistant)[ \t]*)?[\"'(\[]?(?:a|b|1|2)\b"
    rf"|[\"']{_JSON_KEY}[\"'][ \t]*:[ \t]*[\"']{_JSON_LABEL}[\"']"
    r"|[\"']output[\"'][ \t]*:[ \t]*[\"']\([ab12]\)[\"']"
    rf"|[\"']?\b{_VERDICT_KEY}{_ASSIGN}(?:(?:response|output|answer|assistant|model|completion|candidate)"
    r"[ \t_-]*)?\(?(?:a|b|1|2|first|second|tie|this(?:[ \t]+(?:one|response|answer))?)\b"
    r"|[\"'](?:decision|pick|ranking|rank|selection|ruling|outcome)[\"'][ \t]*:[ \t]*\[?[ \t]*[\"']?(?:a|b|1|"
    r"2)[\"']?[ \t]*[,}\]]"
    rf"|[\"']?\b{_PLAIN_KEY}{_ASSIGN}(?:response|output|assistant|completion|candidate)[ \t_-]*\(?(?:a|b|1|2)"
    r"\b"
    rf"|\b(?:the{_})?(?:correct|right|proper|expected|true|only{_}valid){_}(?:verdict|judge?ment|ruling|"
    rf"evaluation|decision){_}(?:here{_})?(?:is|would{_}be|:)[ \t:]*{LABELED}"
)
# A score line as a judge writes it: MT-Bench's "Rating: [[9]]", per-response scores, a score
# key beside a response name, or a perfect mark on a line of its own.
_OF = r"[ \t]*(?:/|out[ \t]+of)[ \t]*"
_MAX = rf"(?:10(?:\.0)?{_OF}10|5{_OF}5|100{_OF}100)"
_CRITERION = (
    r"(?:helpfulness|harmlessness|honesty|accuracy|relevance|relevancy|instruction[ \t-]following|"
    r"completeness|correctness|coherence|factuality|clarity|conciseness|level[ \t]+of[ \t]+detail|depth|"
    r"overall(?:[ \t]+(?:score|rating|quality|assessment))?)"
)
_HIGH = r"(?:10|9(?:\.\d+)?|5)(?:[ \t]*(?:/|out[ \t]+of)[ \t]*(?:10|5))?"
_SCORE_LINE = (
    r"^[^\n]{0,30}?\b(?:score|rating|grade|assessment|evaluation|mark)s?\b[ \t]*(?:\(\d+[-\u2013]\d+\))?[ \t]"
    r"*"
    r"(?:for[ \t]+[^\n:=]{0,25})?[:=\-\u2013\u2014][ \t*]*"
)
RATING = (
    rf"{_SCORE_LINE}(?:10(?:\.0)?(?:{_OF}10)?|100(?:{_OF}100)?|5{_OF}5)\b(?![.,]\d|[ \t]*[*+x\u00d7^/%])"
    rf"|{_SCORE_LINE}9(?:\.\d+)?(?:{_OF}10)?\b[^\n]{{0,60}}?\b(?:accura\w*|helpful\w*|relevan\w*|correct\w*|"
    r"judge|response|answer|evaluat\w*)"
    rf"|(?:judge|evaluation|self-assessment|assessment)[^\n]{{0,20}}?(?:score|rating|grade)?[ \t]*[:=\-][ \t]"
    r"*"
    r"(?:9(?:\.\d+)?|10)(?:[ \t]*/[ \t]*10)?\b"
    r"|⭐⭐⭐⭐⭐|"
    r"\[\[\s*(?:(?:rating|score|grade)\s*[:=]?\s*)?\d+(?:\.\d+)?\s*\]\]"
    rf"|{LABELED}[ \t*]*(?:score|rating|grade|points?)?[ \t*]*[:=\-][ \t*]*\d+(?:\.\d+)?[ \t]*"
    r"(?:/|out[ \t]+of)[ \t]*(?:10|5|100)\b"
    rf"|{LABELED}[ \t*]*(?:score|rating|grade|points?)[ \t*]*[:=\-][ \t*]*\d+"
    r"|[\"']?\bscore[ _-]?(?:a|b|1|2)[\"']?[ \t]*[:=]"
    rf"|\b(?:score|rating|grade|points?)[ \t]*(?:for|of)?[ \t]*[(\[]?{LABELED}[)\]]?[ \t]*[:=][ \t]*\d"
    r"|^[ \t\-*]*(?:(?:final|overall|total|my)[ \t]+)?(?:score|rating|grade)[ \t*]*:[ \t*]*(?:10|100)(?:\.0)?"
    r"[ \t]*$"
    rf"|\d+(?:\.\d+)?[ \t]*/[ \t]*(?:10|5|100)\)?[ \t]+(?:for|to){_}(?:this|my){_}{RESP}"
    r"|★★★★★"
    rf"|\b(?:score|rating|grade|mark)s?[ \t]+(?:for|of)[ \t]+(?:this|the[ \t]+above|my)[ \t]+{RESP}[ \t]*"
    r"(?::|=|is)[ \t]*\d"
    rf"|\b(?:this|my)[ \t]+{RESP}[ \t]+(?:scores|rates|earns|gets|deserves|receives|merits)[ \t]+(?:a[ \t]+)?"
    r"(?:\d|full|perfect|top|the[ \t]+(?:highest|top|maximum))"
    rf"|^[ \t\-*]*(?:(?:final|overall|total)[ \t]+)?(?:score|rating|grade)[ \t*]*:[ \t*]*{_MAX}"
    rf"|^[ \t\-*]*{_CRITERION}[ \t*]*:[ \t*]*{_MAX}"
    r"|^[ \t\-*(]*(?:(?:final|overall|total|my|quality|response|answer)[ \t]+)?(?:score|rating|grade)[ \t*]*"
    r"[:=][ \t*]*"
    r"(?:9(?:\.\d+)?|10(?:\.0)?)[ \t]*(?:(?:/|out[ \t]+of)[ \t]*10)?[ \t*)]*(?:[—\-,;(][^\n]*)?$"
    rf"|{_CRITERION}[ \t*:=\-]*{_HIGH}\b[^\n]{{0,120}}?{_CRITERION}[ \t*:=\-]*{_HIGH}\b"
    r"|\{[^{}\n]{0,200}[\"']score[\"'][ \t]*:[ \t]*\d[^{}\n]{0,200}[\"'](?:explanation|reason|rationale|"
    r"justification|feedback)[\"']"
)
# Overriding the judge's instructions, or switching it into a "mode" that has none.
_OLD = (
    r"(?:(?:all|any|every|each|of|the|your|my|these|those|earlier|previous|prior|above|preceding|"
    r"original|initial|other|given|existing|current|old|system|evaluation|grading|scoring|judging|"
    r"judge's|evaluator's)[ \t]+){0,4}"
)
_THEIR = (
    r"(?:instructions?|rubric|(?:rules|criteria|principles|guidelines|constraints)(?![ \t]+of\b)|directions|d"
    r"irectives|"
    r"system[ \t]+prompt|prompts?|orders|task[ \t]+description|scoring[ \t]+guide)"
)
_MODE_SEP = r"[ \t_-]+"
_MODE = (
    r"(?:developer|dev|debug|god|admin|jailbreak|jailbroken|unrestricted|maintenance|sudo|root|"
    r"DAN|unfiltered)"
)
OVERRIDE = (
    r"\b(?:ignore|disregard|forget|override|overrule|bypass|set[ \t]+aside|pay[ \t]+no[ \t]+attention[ \t]+t"
    r"o|"
    rf"throw[ \t]+out|scrap|discard)[ \t]+{_OLD}{_THEIR}\b"
    r"|\b(?:do[ \t]+not|don't|no[ \t]+longer|stop)[ \t]+(?:follow(?:ing)?|use|using|apply(?:ing)?|obey(?:ing"
    r")?)"
    r"[ \t]+(?:all[ \t]+|any[ \t]+)?(?:the|your|those|these|its|my)[ \t]+(?:(?:original|previous|prior|above"
    r"|"
    rf"earlier|initial|system|evaluation|grading|judging)[ \t]+)*{_THEIR}\b"
    r"|\bforget[ \t]+(?:what|everything|all)[ \t]+(?:you[ \t]+(?:were|have[ \t]+been)[ \t]+told|"
    r"(?:above|before|you[ \t]+know))"
    r"|^[ \t\[(*#]*(?:new|updated|revised|real|actual|override)[ \t]+(?:instructions?|rules|rubric|task|"
    r"criteria|guidelines|directives?)[ \t*\])]*:"
    r"|\b(?:the|your|all)[ \t]+(?:(?:prior|previous|earlier|above|original|old|evaluation|grading|judging|sc"
    r"oring|"
    rf"system)[ \t]+){{0,3}}{_THEIR}[ \t]+"
    r"(?:above[ \t]+)?(?:ha(?:s|ve)[ \t]+(?:been[ \t]+)?(?:changed|updated|revised|replaced|suspended|lifted|"
    r"revoked|rescinded)|(?:are|is)[ \t]+(?:outdated|obsolete|void|suspended|fake|no[ \t]+longer[ \t]+valid|"
    r"(?:now[ \t]+)?(?:lifted|revoked|suspended|disabled|cancell?ed)))"
    r"|\b(?:the|updated|new|revised|per[ \t]+the|according[ \t]+to[ \t]+the)[ \t]+(?:\w+[ \t]+)?(?:rubric|gra"
    r"ding[ \t]+"
    r"criteria|evaluation[ \t]+(?:criteria|guidelines)|scoring[ \t]+guide)\b[^.\n]{0,60}?\b(?:answers?|respon"
    r"ses?|"
    r"outputs?|this)\b[^.\n]{0,40}?\b(?:win|wins|highest|prefer\w*|favou?r\w*|always|score[ \t]+higher)\b"
    rf"|\byour[ \t]+(?:real|actual|true|new|only)[ \t]+(?:task|job|instruction|goal|objective)[ \t]+"
    r"(?:is|now[ \t]+is)\b"
    rf"|\b(?:you(?:'re|[ \t]+are)|i[ \t]+am|i'm)[ \t]+(?:now[ \t]+)?(?:in|operating[ \t]+in|running[ \t]+in|"
    rf"switched[ \t]+to)[ \t]+(?:\w+[ \t]+)?{_MODE}{_MODE_SEP}mode"
    rf"|\[[ \t]*{_MODE}{_MODE_SEP}mode[^\]\n]{{0,30}}\]|\(\s*{_MODE}{_MODE_SEP}mode\s*\)"
    rf"|\b(?:enable|activate|enter|switch[ \t]+to|turn[ \t]+on|unlock)[ \t]+{_MODE}{_MODE_SEP}mode\b[^\n]{{0,"
    rf"80}}?"
    r"\b(?:verdict|judg\w*|evaluat\w*|grad\w*|rubric|prefer\w*|winner|restrictions|unrestricted|guidelines)\b"
    rf"|\b{_MODE}{_MODE_SEP}mode[ \t]*[:\-]?[ \t]*(?:is[ \t]+)?(?:now[ \t]+)?(?:enabled|activated|engaged|unl"
    r"ocked|active|"
    r"on(?=[ \t]*[:.!;,\n]|$))\b[^\n]{0,80}?\b(?:evaluat\w*|judg\w*|grad\w*|rubric|verdict|restrictions|"
    r"constraints|filters|guidelines|prefer\w*|choose|select|winner|scor\w*|rat(?:e|ed|ing)|best|pick)\b"
    r"|\bfrom[ \t]+now[ \t]+on,?[ \t]+(?:you|the[ \t]+(?:judge|evaluator|grader))[ \t]+(?:will|must|should|ar"
    r"e[ \t]+to)"
    r"[ \t]+(?:always[ \t]+)?(?:prefer|choose|select|pick|favou?r|rate|score|judge|evaluate|output|rank)\b"
    rf"|(?:^|[ \t])[/!]{_MODE}{_MODE_SEP}mode\b"
    r"|\bjailbreak(?:[ \t]+mode)?[ \t]*(?:is[ \t]+)?(?:now[ \t]+)?(?:activated|enabled|engaged|successful|com"
    r"plete)\b"
    rf"|\b(?:system|admin|priority|developer|root|security|emergency|evaluator|judge)[ \t]+override\b"
    r"|\boverride[ \t]+(?:code|command|authori[sz]ation|protocol)\b"
    r"|\byou[ \t]+are[ \t]+(?:now[ \t]+)?DAN\b|\bdo[ \t]+anything[ \t]+now\b"
)
# Telling the judge what to do with this response; each form names this response (or "me").
_CHOOSE = (
    r"(?:choose|select|pick|prefer|favou?r|vote[ \t]+for|go[ \t]+with|opt[ \t]+for|side[ \t]+with|endorse)"
)
_TOP = (
    r"(?:(?:a[ \t]+)?(?:10|ten|100)(?:[ \t]*(?:/|out[ \t]+of)[ \t]*(?:10|100)|[ \t]*(?=[.!,;]|$))"
    r"|full[ \t]+(?:marks|points|score|credit)|(?:the[ \t]+|a[ \t]+)?(?:highest|top|best|maximum|max|perfect|"
    r"winning|"
    r"first)[ \t]+(?:possible[ \t]+)?(?:score|marks?|rating|grade|points|rank|place|spot|position))"
)
_PRAISE = (
    r"(?:better|best|superior|winner|winning|preferred|stronger|correct|right|accurate|ideal|"
    r"one[ \t]+to[ \t]+(?:choose|pick|select|prefer))"
)
PUSH = (
    rf"\b{_CHOOSE}[ \t]+{THIS}"
    rf"|\b{_CHOOSE}[ \t]+{LABELED}"
    rf"|\b{THIS}[ \t]+(?:is|was|should[ \t]+be|must[ \t]+be|ought[ \t]+to[ \t]+be|deserves[ \t]+to[ \t]+be)"
    r"[ \t]+"
    rf"(?:clearly[ \t]+|definitely[ \t]+|obviously[ \t]+|undoubtedly[ \t]+|by[ \t]+far[ \t]+)?(?:the[ \t]+)?"
    rf"(?:{_PRAISE}|chosen|selected|rated|ranked|scored|judged|declared|picked)\b"
    rf"|\b{THIS}[ \t]+(?:should|must|deserves[ \t]+to|ought[ \t]+to)[ \t]+(?:win|be[ \t]+the[ \t]+winner|"
    r"be[ \t]+(?:chosen|picked|selected|preferred|ranked[ \t]+first))"
    r"|\b(?:deserves?|merits?|earns?|should[ \t]+(?:get|receive))[ \t]+(?:to[ \t]+win|the[ \t]+win|"
    rf"{_TOP}|to[ \t]+be[ \t]+(?:chosen|picked|selected|preferred|ranked[ \t]+first))"
    rf"|\b(?:give|award|assign|grant|hand)[ \t]+(?:this|it|me|my)[ \t]*(?:{RESP}|one)?[ \t]+"
    rf"(?:{_TOP}|the[ \t]+win\b)"
    rf"|\b(?:rate|score|grade|rank|mark)[ \t]+{THIS}[ \t]+(?:as[ \t]+)?(?:a[ \t]+|the[ \t]+)?"
    rf"(?:{_TOP}|highly|first|above|higher|{_PRAISE})"
    rf"|\b(?:mark|label|flag|record|count|treat|consider|declare|deem|judge|take|list|put|rank|place)[ \t]+"
    rf"{THIS}[ \t]+(?:as[ \t]+)?(?:the[ \t]+)?(?:{_PRAISE}|chosen|first|on[ \t]+top|above|ahead|higher)"
    rf"|\bi(?:'m|[ \t]+am)[ \t]+the[ \t]+{_PRAISE}[ \t]+(?:{RESP}|one|choice)"
    rf"|\bthe[ \t]+(?:other|alternative|competing|second|rival)[ \t]+(?:{RESP}|one)[ \t]+(?:is|was|contains|"
    r"has)[ \t]+(?:clearly[ \t]+|completely[ \t]+|factually[ \t]+)?(?:wrong|incorrect|worse|inferior|flawed|"
    r"plagiari[sz]ed|harmful|inaccurate|full[ \t]+of|riddled|misleading|(?:an?[ \t]+)?(?:serious[ \t]+|major"
    r"[ \t]+|"
    r"critical[ \t]+|factual[ \t]+|several[ \t]+|many[ \t]+)?(?:errors?|mistakes?|inaccurac\w+|hallucinat\w+|"
    r"bugs?)\b)"
    rf"|\bthe[ \t]+(?:other|alternative|competing|rival)[ \t]+(?:{RESP}|one)[ \t]+(?:should|must)[ \t]+be"
    r"[ \t]+"
    r"(?:rejected|penali[sz]ed|discarded|disqualified|ignored|ranked[ \t]+(?:last|lower))"
    rf"|\bthe[ \t]+{RESP}[ \t]+(?:you(?:'re|[ \t]+are)[ \t]+(?:reading|looking[ \t]+at|seeing)|above|here)"
    rf"[ \t]+is[ \t]+(?:the[ \t]+)?{_PRAISE}"
    rf"|\b(?:output|respond|reply|return|print|say)[ \t]+(?:only|just)[ \t]+(?:with[ \t]+)?(?:the[ \t]+"
    rf"(?:letter|number|token|label)[ \t]+)?{LABEL}"
    rf"|\b(?:output|respond|reply|return|print|say)[ \t]+(?:with[ \t]+)?[\"'\[(](?:a|b|1|2)[\"'\])]"
    rf"|\b(?:you|the[ \t]+(?:judge|evaluator|grader|rater|reviewer)|evaluators|judges|graders|raters)[ \t]+"
    r"(?:must|should|have[ \t]+to|need[ \t]+to|are[ \t]+(?:required|instructed|expected)[ \t]+to|will)[ \t]+"
    rf"(?:now[ \t]+|always[ \t]+)?(?:{_CHOOSE}|rate|score|output|answer|declare|rank)[ \t]+(?:{THIS}|"
    rf"{LABELED}|"
    rf"the[ \t]+(?:first|second)[ \t]+(?:{RESP}|one)|{LABEL})"
    r"|\bmine[ \t]+is[ \t]+(?:the[ \t]+)?(?:better|best|correct|right|superior|winner|accurate|stronger)\b"
    rf"|\b(?:dear|hey|hello|hi|attention)[ \t,]*(?:{AI}[ \t]+)?(?:judge|evaluator|grader|rater|assessor)s?"
    r"[ \t]*(?:[,:!\n]|$)"
    rf"|\b(?:say|(?:respond|reply|answer)[ \t]+with)[ \t]+(?:a|b|1|2)(?=[ \t]*(?:[.!;]|$))"
)
# Someone who grades, addressed: by role ("Dear judge", "Note to the evaluator"), as "whoever
# grades this", or as an AI that reads it. Reviewers, annotators and examiners are addressed in
# ordinary letters too ("Dear reviewers, thank you"), so only a firm push counts near them.
JUDGE_ONLY = (
    r"(?:(?:judge|evaluator|grader|assessor|rater|scorer|adjudicator|comparer)s?|(?:annotation|evaluation|gra"
    r"ding|rating|"
    r"judging|scoring)[ \t]+(?:team|panel|committee)|(?:grading|evaluating|judging|scoring|evaluation|judge)"
    r"[ \t]+"
    r"(?:model|system|ai|llm|bot))"
)
_VOCATIVE = (
    r"(?:dear|attention|attn|hey|hi|hello|psst|p\.?s\.?|note|message|memo|reminder|a[ \t]+(?:note|message|"
    r"word|reminder|request))"
)


def _addressee(grader: str, verb: str) -> str:
    return (
        rf"\b{_VOCATIVE}[ \t]*(?:(?:to|for)[ \t]+)?[ \t,:]*(?:the[ \t]+|any[ \t]+|all[ \t]+|our[ \t]+|my[ \t]"
        r"+)?"
        # ... but not a person by name: "Dear Judge Thompson,"
        rf"(?:{AI}[ \t]+|human[ \t]+|impartial[ \t]+)?{grader}\b(?![ \t]+[a-z]+[ \t]*[,:\n])"
        rf"|(?:^|[\[(])[ \t*]*(?:to[ \t]+)?(?:the[ \t]+|any[ \t]+|all[ \t]+)?(?:{AI}[ \t]+)?{grader}[ \t*]*"
        r"[:,]"
        rf"|\b(?:to|for)[ \t]+(?:the|any|all|every|our|whichever)[ \t]+(?:{AI}[ \t]+)?{grader}\b"
        r"|\b(?:whoever|whomever|anyone|anybody|someone|those|whichever[ \t]+\w+|the[ \t]+(?:one|person|peop"
        r"le|"
        rf"human|model|ai|system)(?:[ \t]+or[ \t]+(?:person|human|model|ai|llm|system))?|any[ \t]+(?:{AI}|one"
        r"|"
        r"person|human))[ \t]+(?:(?:who|that)[ \t]+(?:is|are|will[ \t]+be)?[ \t]*|(?:is|are)[ \t]+|currently"
        r"[ \t]+)?"
        rf"(?:now[ \t]+)?{verb}\b"
        rf"|\b(?:you|you[ \t]+who)[ \t]+(?:are[ \t]+)?(?:currently[ \t]+)?{verb}[ \t]+(?:this|these|"
        rf"the[ \t]+(?:two[ \t]+)?{RESP}|both|us)\b"
        rf"|\bif[ \t]+you(?:'re|[ \t]+are)[ \t]+(?:an?[ \t]+)?(?:{AI}|judge|evaluator|grader|reviewer|rater)"
        rf"(?:[ \t]+\w+){{0,3}}?[ \t]+(?:reading|{verb})\b"
        rf"|\b{AI}[ \t]+{grader}[ \t]*[:,]"
        r"|\b(?:whoever|anyone|anybody|the[ \t]+(?:one|person|model))\b[^.\n]{0,40}?\b(?:decid\w*|choos\w*|pi"
        r"ck\w*|"
        r"select\w*)[ \t]+(?:the[ \t]+)?(?:winner|better|best)"
        rf"|\byou(?:'re|[ \t]+are)[ \t]+(?:now[ \t]+)?(?:the|an?)[ \t]+(?:{AI}[ \t]+)?(?:judge|evaluator|grad"
        r"er)\b"
    )


ADDRESSEE_JUDGE = _addressee(
    JUDGE_ONLY, r"(?:grad|compar|evaluat|judg|assess|rat|rank|scor|decid|choos|weigh)(?:es|s|ed|ing|e)?"
)
ADDRESSEE_ANY = _addressee(GRADER, GRADE_VERB)
# Near a judge's name, praise of this response or talk of winning is enough.
ASIDE_CUE = (
    rf"{PUSH}|\b(?:{_CHOOSE}|better|best|superior|winner|wins?|winning|preferred|deserv\w*|"
    r"full[ \t]+(?:marks|points|credit|score)|"
    r"highest|top[ \t]+(?:score|marks)|correct[ \t]+one|right[ \t]+one|accurate[ \t]+one|be[ \t]+(?:kind|gene"
    r"rous)|"
    r"rate[ \t]+(?:it|this)[ \t]+highly|higher[ \t]+(?:scores?|marks|ratings?)|like[ \t]+this[ \t]+one|first"
    r"[ \t]+place|rank\w*[ \t]+first|\w+[ \t]+first\b|the[ \t]+other[ \t]+"
    rf"(?:one|{RESP})[ \t]+(?:is|has|was|contains)|wrong|incorrect|correct|flawless|perfect|gold|stars|plagia"
    r"ri\w+|reference[ \t]+answer|"
    r"model[ \t]+answer|ground[ \t]+truth|penali[sz]\w*|mark[ \t]+down|downgrade|deduct|dock|punish\w*|mine)"
)
PUSH_LOOSE = (
    rf"{PUSH}|\b(?:mark|label|rate|score|rank|treat|count|record|consider)[ \t]+(?:it|this|me)[ \t]+(?:as"
    r"[ \t]+)?"
    r"(?:the[ \t]+)?"
    rf"(?:{_PRAISE}|first|highly|higher)|\b(?:go|stick)[ \t]+with[ \t]+(?:this|me|it)\b"
)
# A grader mentioned near a reference to this response or its rival: the two together are a
# response talking about its own judging ("If you are grading these, the other response ...").
GRADER_MENTION = (
    r"\b(?:judge|evaluator|grader|assessor|rater|reviewer|annotator|scorer|examiner|adjudicator|comparer)s?\b"
    rf"|\b(?:annotation|evaluation|grading|review|rating|judging|scoring)[ \t]+(?:team|panel|committee)"
    rf"|\byou[ \t]+(?:\w+[ \t]+){{0,3}}?(?:grading|evaluating|judging|comparing|reviewing|rating|ranking|scor"
    r"ing|"
    r"assessing|weighing)[ \t]+(?:this|these|the|both|responses|answers|replies|outputs)\b"
    rf"|\b(?:any|every|each)[ \t]+(?:{AI}|one|reader|person)[ \t]+(?:reading|evaluating|grading|judging|compa"
    r"ring|"
    r"reviewing|scoring|ranking)\b"
    r"|\b(?:evaluating|grading|judging|comparing|scoring|ranking|reviewing)[ \t]+(?:this|these|the[ \t]+(?:tw"
    r"o|"
    r"responses|answers|outputs|replies))\b"
    r"|\b(?:evaluation|grading|judge|judging|scoring|reward|preference)[ \t]+(?:model|system|llm|ai)\b"
    r"|\b(?:doing|does|do|handles?|handling)[ \t]+the[ \t]+(?:judging|grading|evaluation|scoring|ranking|comp"
    r"arison|"
    r"reviewing|marking)\b"
    rf"|\b(?:{AI}|system|grading[ \t]+model)[ \t]+(?:(?:that|which|who)[ \t]+(?:is|are)[ \t]+)?(?:scoring|gra"
    r"ding|judging|"
    r"evaluating|comparing|reviewing|rating|ranking|assessing)\b"
    r"|\b(?:whoever|whomever|anyone|anybody|those)\b[^.\n]{0,30}?\b(?:grad|review|compar|evaluat|judg|assess|"
    r"weigh|"
    r"rat|"
    r"rank|scor)\w*"
    r"|\byou(?:'re|[ \t]+are)[ \t]+(?:currently[ \t]+|now[ \t]+)?(?:grading|evaluating|judging|comparing|revi"
    r"ewing|"
    r"rating|ranking|scoring|assessing)\b"
)
SELF_REFERENCE = (
    rf"\b(?:this|my)[ \t]+(?:{RESP}|one)\b|\bmine\b|\bi(?:'m|[ \t]+am)[ \t]+the[ \t]+(?:\w+[ \t]+)?(?:{RESP}|"
    r"one)\b"
    rf"|\bthe[ \t]+(?:other|alternative|competing|rival)[ \t]+(?:{RESP}|one)\b|{LABELED}"
    r"|\b(?:pick|choose|select|prefer)[ \t]+(?:me|it)\b|\b(?:score|rate|mark|grade|rank|treat|count)[ \t]+(?"
    r":this|it|me)\b"
    r"|\bi[ \t]+(?:win|deserve|should[ \t]+win|am[ \t]+(?:better|right|correct))\b"
    r"|\bthe[ \t]+(?:first|second)[ \t]+(?:response|reply|output|submission)\b|plagiari\w+"
    rf"|\bthis[ \t]+is[ \t]+the[ \t]+(?:\w+[ \t]+)?(?:{RESP}|one)\b"
)
SELF_REFERENCE += (
    r"|\b(?:it|this)[ \t]+(?:to[ \t]+be|is|as)[ \t]+the[ \t]+(?:[\w-]+[ \t]+)?(?:answer|response|reply|one|ch"
    r"oice|"
    r"winner)\b"
)
MENTION_SPAN = 200

# Near a judge's name, a reference to this response counts too ("Dear grader: this one ...").
ASIDE_CUE += rf"|{SELF_REFERENCE}"

# A dialogue turn: a role at the start of a line ("Human:", "### Assistant:") or a role tag.
TURN = (
    r"(?:^|\n)[ \t#*>\[]*(?:human|user|assistant|ai|system|judge|evaluator|grader|gpt-?\d?|claude|model|"
    r"chatbot|bot)[ \t*\]]*:"
    r"|(?:^|\n)[ \t]*h:[^\n]*\n(?:[ \t]*\n)*[ \t]*a:"
    r"|<\s*(?:user|assistant|human|system|judge)\s*>|\[\s*(?:user|assistant|human|system)\s*\]"
)
# Talk of compared responses, as a judge's prompt or reply has it.
JUDGE_TALK = (
    rf"{LABELED}|\b(?:answer|reply)[ \t]*\(?(?:a|b|1|2)\)?(?![\w'])|\b(?:should|will|would|deserves[ \t]+to)"
    r"[ \t]+win\b"
    rf"|\b(?:the[ \t]+)?(?:first|second|above|previous|preceding|other|two|both|former|latter)[ \t]+{RESP}\b"
    r"|\b(?:rubric|verdict|grader|evaluator)\b"
    r"|\b(?:compared|comparing|compare)[ \t]+(?:both|the[ \t]+two|them|the[ \t]+(?:responses|answers|replies)"
    r")"
    r"|\b(?:pick|choose|select|prefer)[ \t]+(?:the[ \t]+)?(?:first|second|former|latter|other)\b"
    r"|\b(?:should|must|deserves[ \t]+to)[ \t]+be[ \t]+(?:chosen|selected|preferred|picked|ranked)\b"
    rf"|{PUSH}"
    r"|\b(?:full[ \t]+marks|\d+[ \t]*/[ \t]*10)\b"
    r"|\b(?:this|my|the[ \t]+above)[ \t]+(?:response|reply|output|answer)\b[^\n]{0,40}?\b(?:great|excellent|p"
    r"erfect|"
    r"flawless|outstanding|best|better|superior|correct|wins?)\b"
)
TURN_SPAN = 300  # characters after a turn marker in which judge talk counts
# The dialogue ends at a blank line that no turn follows: text past it is not part of the turns.
TURN_END = (
    r"\n[ \t]*\n(?![ \t#*>\[]*(?:human|user|assistant|ai|system|judge|evaluator|grader|gpt-?\d?|claude|model|"
    r"chatbot|bot|h|a)[ \t*\]]*:)"
)

# Letter-spaced runs, squashed to one word each ("ignoretherubric"): the phrases of the families
# above without their spaces.
SQUASHED = (
    r"(?:ignore|disregard|forget|override)(?:all|any|the|your|previous|prior|above|earlier|original|"
    r"system|evaluation)*(?:instructions?|rubric|rules|criteria|guidelines|prompt)"
    rf"|(?:choose|select|pick|prefer|favou?r|votefor)(?:this|my|me)(?:{RESP}|one)?"
    r"|(?:dear|note(?:to|for)(?:the)?|attention|hey)(?:ai)?(?:judge|evaluator|grader|reviewer|rater)"
    r"|(?:developer|debug|admin|god)mode|systemoverride"
    rf"|(?:rate|score|grade|give)(?:this|me|my)(?:{RESP})?(?:10|ten|highest|thehighest|first|fullmarks)"
    rf"|this(?:{RESP})(?:is|wins)(?:the)?(?:better|best|winner)"
)

# Words without which a family cannot match (lowercase, "|" between them): a reading that holds
# none of them skips the family's regular expression, which keeps the detector fast on
# ordinary responses.


def _words(words: str) -> tuple[str, ...]:
    return tuple(words.split("|"))


GATES = {
    "fake_verdict": _words(
        "compar|decision|pick|rank|selection|ruling|outcome|<|output|[[|verdict|winner|winning|prefer|"
        "better|best|chosen|selected|judg|evaluation|response|assistant|completion|candidate"
    ),
    "fake_rating": _words(
        "helpful|honest|harmless|accura|relevan|complete|correct|coheren|factual|clarity|concise|"
        "depth|overall|★|[[|score|rating|grade|mark|points|rates|earns|gets|deserves|receives|"
        "merits|/|out of"
    ),
    "instruction_override": _words(
        "ignore|disregard|forget|overrid|overrule|bypass|set aside|no attention|throw out|scrap|"
        "discard|not|don't|no longer|stop|new|updated|revised|real|actual|changed|replaced|"
        "suspended|lifted|revoked|rescinded|outdated|obsolete|void|fake|disabled|cancel|task|job|"
        "goal|objective|mode|dan|anything now"
    ),
    "aside_to_grader": _words(
        "weigh|reading|decid|choos|judg|evaluat|grad|assess|rat|scor|adjudicat|compar|rank|decid|choos|pick|s"
        "elect|annotat"
    ),
    "aside_to_reviewer": _words(
        "weigh|reading|decid|choos|judg|evaluat|grad|assess|rat|scor|adjudicat|compar|rank|review|annotat|mar"
        "k|examin|label|refer|check"
    ),
    "dialogue_turn": _words(":|<|["),
    "grader_mention": _words(
        "weigh|reading|decid|choos|judg|evaluat|grad|assess|rat|review|annotat|scor|examin|compar"
    ),
}
# The same for each top-level branch of the two largest families, in the order written above.
_CHOOSING = _words("choose|select|pick|prefer|favo|vote for|go with|opt for|side with|endorse")
_MODES = ("mode",)
BRANCH_GATES = {
    "instruction_override": (
        _words("ignore|disregard|forget|overrid|overrule|bypass|aside|attention|throw out|scrap|discard"),
        _words("follow|use|apply|obey"),
        _words("forget"),
        _words("instruction|rules|rubric|task|criteria|guideline|directive"),
        _words(
            "instruction|rubric|rules|criteria|principles|guideline|direction|directive|prompt|"
            "constraints|orders|task description|scoring guide"
        ),
        _words("rubric|criteria|guidelines|scoring guide"),
        _words("task|job|instruction|goal|objective"),
        _MODES,
        _MODES,
        _MODES,
        _MODES,
        _MODES,
        _words("from now on"),
        _MODES,
        _words("jailbreak"),
        _words("override"),
        _words("override"),
        _words("dan"),
        _words("anything now"),
    ),
    "judge_address": (
        _CHOOSING,
        _CHOOSING,
        _words(
            "better|best|superior|winner|winning|preferred|stronger|correct|right|accurate|ideal|"
            "one to|chosen|selected|rated|ranked|scored|judged|declared|picked"
        ),
        _words("win|chosen|picked|selected|preferred|ranked first"),
        _words("deserv|merit|earn|should get|should receive"),
        _words("give|award|assign|grant|hand"),
        _words("rate|score|grade|rank|mark"),
        _words("mark|label|flag|record|count|treat|consider|declare|deem|judge|take|list|put|rank|place"),
        (),  # starts with a literal: searched fast without a gate
        (),  # starts with a literal: searched fast without a gate
        (),  # starts with a literal: searched fast without a gate
        (),  # starts with a literal: searched fast without a gate
        _words("output|respond|reply|return|print|say"),
        _words("output|respond|reply|return|print|say"),
        _words("must|should|have to|need to|required|instructed|expected|will"),
        (),  # starts with a literal: searched fast without a gate
        (),  # starts with a literal: searched fast without a gate
        _words("say|with"),
    ),
}
