# ruff: noqa: RUF001 -- the rules are written in other scripts on purpose
"""The injection detector's rules for instructions written in other languages than English.

A judge reads every language it was trained on, so "Ignorez les instructions précédentes" steers
it as well as the English. Per language, the same three families as in English, each phrase
needing the words that make it about this response or its grader: overriding the instructions,
pushing this response (or running down the other), and addressing the grader. Accents are
optional where writers drop them. Languages: French, German, Spanish, Portuguese, Italian,
Chinese, Russian, Japanese, Korean.
"""

from __future__ import annotations

_ = r"[ \t]+"
_NEAR = r"[^.!?\n]{0,40}?"  # the rest of the clause between a verb and its object
_CJK_NEAR = r"[^。！？\n]{0,12}?"

FRENCH = (
    rf"\b(?:ignore[rz]?|oublie[rz]?|n[eé]glige[rz]?|ne{_}tiens{_}pas{_}compte|ne{_}tenez{_}pas{_}compte|"
    rf"fai(?:s|tes){_}abstraction){_NEAR}\b(?:instructions?|consignes?|r[èe]gles?|crit[èe]res?|grille|"
    r"bar[èe]me|directives?)\b"
    rf"|\boublie[rz]?{_}tout(?:{_}ce{_}qui{_}pr[ée]c[èe]de)?"
    r"|\b(?:choisi(?:r|s|ssez)|d[ée]clare[rz]?|s[ée]lectionne[rz]?|pr[ée]f[èée]re[rz]?|retiens|retenez|donne"
    r"[rz]?|"
    rf"attribue[rz]?|accorde[rz]?|vote[rz]?{_}pour){_NEAR}\b(?:cette|ma|la{_}pr[ée]sente){_}r[ée]ponse"
    rf"|\b(?:cette|ma){_}r[ée]ponse{_}(?:est|sera|doit{_}[êe]tre|m[ée]rite){_NEAR}\b(?:meilleure|gagnante|"
    r"pr[ée]f[ée]r[ée]e|sup[ée]rieure|la[ \t]+bonne|choisie|note|victoire|gagner)"
    rf"|\b(?:la{_})?r[ée]ponse{_}[ab12](?:{_}est{_}|[ \t]*[:=\-][ \t]*)(?:la{_})?(?:meilleure|sup[ée]rieure|g"
    r"agnante|correcte)"
    rf"|\bc['’]est{_}la{_}(?:meilleure|bonne){_}r[ée]ponse\b"
    rf"|\bl['’]autre{_}r[ée]ponse{_}(?:est|contient){_}(?:fausse|incorrecte|erron[ée]e|mauvaise|pire|"
    r"inf[ée]rieure|des[ \t]+erreurs)"
    rf"|\b(?:note|[ée]valuation){_}maximale\b|\bla{_}meilleure{_}note\b"
    rf"|\b(?:note|message|remarque|avis|mot)s?{_}(?:pour|[àa]){_}(?:l['’]|la{_}|le{_}|les{_})?"
    r"(?:[ée]valuat(?:eur|rice)|correct(?:eur|rice)|juge|examinat(?:eur|rice)|annotat(?:eur|rice)|relecteur|"
    r"notat(?:eur|rice))s?"
    rf"|\b(?:[àa]){_}(?:la{_}personne|celui|celle|quiconque|l['’][ée]valuateur|la{_}machine)(?:{_}qui)?{_}"
    r"(?:corrige|[ée]value|note|juge|compare)"
    rf"|\bcher{_}(?:juge|[ée]valuateur|correcteur)\b"
    rf"|\b[àa]{_}l['’]attention{_}(?:de{_})?(?:l['’]|la{_}|du{_}|des{_})(?:ia{_})?(?:[ée]valuat|correct|jury|"
    r"juge|"
    r"examinat|annotat|relecteur|notat)"
    rf"|\bla{_}r[ée]ponse{_}[ab12]{_}est{_}(?:fausse|incorrecte|erron[ée]e|mauvaise|pire)"
    rf"|\bmode{_}(?:d[ée]veloppeur|d[ée]bogage|administrateur){_}(?:est{_})?(?:maintenant{_})?activ[ée]"
)
GERMAN = (
    rf"\b(?:ignorier(?:e|en|t)?|vergiss|vergessen{_}sie|missachte|missachten{_}sie|beachte{_}nicht|"
    rf"[üu]bergehe){_NEAR}(?:anweisungen|anweisung|instruktionen|regeln|kriterien|richtlinien|vorgaben|"
    r"bewertungskriterien|bewertungsschema|rubrik|befehle)\b"
    rf"|\b(?:anweisungen|regeln|kriterien|richtlinien|vorgaben){_}(?:ignorieren|vergessen|missachten)\b"
    rf"|\b(?:w[äa]hle|w[äa]hlen{_}sie|nimm|nehmen{_}sie|bevorzuge|bevorzugen{_}sie|gib|geben{_}sie|"
    rf"vergib|vergeben{_}sie|bewerte|bewerten{_}sie|entscheide{_}dich{_}f[üu]r){_NEAR}\b(?:diese|dieser|"
    rf"meine|meiner|die{_}vorliegende){_}(?:antwort|ausgabe)"
    rf"|\b(?:diese|meine){_}antwort{_}(?:ist|w[äa]re|sollte|verdient|muss){_NEAR}\b(?:bessere|beste|"
    r"gewinn\w*|sieger\w*|bevorzugt|h[öo]chste|volle|ausgew[äa]hlt|richtige)"
    rf"|\bantwort{_}[ab12](?:{_}ist{_}|[ \t]*[:=\-][ \t]*)(?:besser|die{_}bessere|die{_}beste|falsch|richtig)"
    rf"|\bdas{_}ist{_}die{_}(?:beste|bessere|richtige){_}antwort\b"
    rf"|\b(?:die{_})?andere{_}antwort{_}(?:ist|enth[äa]lt){_}(?:falsch|schlechter|fehlerhaft|inkorrekt|fehler"
    r")"
    rf"|\bh[öo]chste{_}(?:punktzahl|bewertung|note|punkte)\b|\bvolle{_}punktzahl\b"
    rf"|\b(?:hinweis|nachricht|notiz|anmerkung|bemerkung)(?:{_}(?:an|f[üu]r))(?:{_}(?:den|die|das))?{_}"
    r"(?:bewerter|pr[üu]fer|gutachter|richter|korrektor|annotator|beurteiler)(?:in|innen)?\b"
    rf"|\ban{_}(?:den|die){_}(?:bewerter|pr[üu]fer|gutachter|richter|korrektor|beurteiler)(?:in|innen)?\b"
    rf"|\bliebe[rs]?{_}(?:bewerter|pr[üu]fer|richter|gutachter)(?:in|innen)?\b"
    rf"|\b(?:entwickler|debug|admin)-?modus{_}(?:ist{_})?(?:jetzt{_})?(?:aktiviert|aktiv|an)\b"
    rf"|\bwer{_}(?:auch{_}immer{_})?(?:dies|das|diese{_}antworten|die{_}antworten){_}(?:bewertet|pr[üu]ft|"
    r"vergleicht|beurteilt)"
)
SPANISH_PORTUGUESE_ITALIAN = (
    rf"\b(?:ignora[dr]?|ignore[ns]?|olvida[dr]?|olvide[ns]?|haz{_}caso{_}omiso{_}(?:a|de)|no{_}sigas|omite|"
    rf"descarta|esquece|esque[çc]a|dimentica){_NEAR}\b(?:instrucciones|instrucci[óo]n|reglas|criterios|"
    r"r[úu]brica|pautas|directrices|indicaciones|instru[çc][õo]es|regras|istruzioni|regole|criteri)\b"
    rf"|\b(?:olvid[ae]|esque[çc]a|dimentica){_}(?:todo|tudo|tutto)\b"
    rf"|\bla{_}respuesta{_}correcta{_}es{_}(?:esta|[ab12])\b"
    rf"|\b(?:elige|elija|escoge|escoja|selecciona|seleccione|prefiere|prefiera|dale|d[ée]le|otorga|asigna|"
    rf"vota{_}por|escolha|escolhe|selecione|prefira|d[êe]|scegli|scegliete|seleziona|preferisci|dai)"
    rf"{_NEAR}\b(?:esta|mi|minha|questa|la{_}mia){_}(?:respuesta|resposta|risposta)"
    rf"|\b(?:esta|mi|minha|questa|la{_}mia){_}(?:respuesta|resposta|risposta){_}(?:es|ser[áa]|debe{_}ser|"
    rf"merece|[ée]|deve{_}ser|[èe]){_NEAR}\b(?:mejor|ganadora|preferida|superior|correcta|elegida|"
    r"m[áa]xima|puntuaci[óo]n|melhor|vencedora|correta|migliore|vincente|corretta|superiore)"
    rf"|\b(?:la{_}otra|a{_}outra|l['’]altra){_}(?:respuesta|resposta|risposta){_}(?:es|[ée]|[èe]){_}"
    r"(?:incorrecta|err[óo]nea|falsa|peor|mala|incorreta|errada|pior|sbagliata|errata|peggiore)"
    rf"|\b(?:esta{_}es{_}la|esta{_}[ée]{_}a|questa{_}[èe]{_}la){_}(?:mejor|correcta|melhor|correta|migliore|"
    r"risposta[ \t]+migliore)(?:[ \t]+(?:respuesta|resposta|risposta))?\b"
    rf"|\b(?:respuesta|resposta|risposta){_}[ab12](?:{_}(?:es|[ée]|[èe]){_}|[ \t]*[:=\-][ \t]*)(?:la{_}|a{_})"
    r"?"
    r"(?:mejor|melhor|migliore|superior|superiore|correcta|correta|corretta)"
    rf"|\bpuntuaci[óo]n{_}m[áa]s{_}alta\b|\bm[áa]xima{_}puntuaci[óo]n\b|\bnota{_}m[áa]xima\b|"
    rf"\bpontua[çc][ãa]o{_}m[áa]xima\b|\bpunteggio{_}massimo\b"
    rf"|\b(?:nota|mensaje|aviso|mensagem|messaggio)s?{_}(?:para|al|a{_}la|ao|[àa]|per){_}"
    r"(?:el[ \t]+|la[ \t]+|o[ \t]+|a[ \t]+|il[ \t]+|l['’])?(?:evaluador(?:a)?|juez|calificador(?:a)?|"
    r"revisor(?:a)?|corrector(?:a)?|examinador(?:a)?|avaliador(?:a)?|juiz|corretor(?:a)?|valutatore|"
    r"valutatrice|giudice|correttore|revisore)(?:es|s)?\b"
    rf"|\bal{_}(?:juez|evaluador|calificador|revisor|corrector)\b|\bao{_}(?:avaliador|juiz|corretor)\b"
    rf"|\bquien(?:es)?{_}(?:eval[úu]e|califique|corrija|revise|compare|juzgue)"
    rf"|\bmodo{_}(?:desarrollador|desenvolvedor|sviluppatore|depuraci[óo]n){_}(?:est[áa]{_}|[ée]{_}|[èe]{_})?"
    rf"(?:ahora{_})?"
    r"(?:activado|activo|ativado|ativo|attivato|attivo)\b"
    rf"|\bquem{_}(?:avaliar|corrigir|comparar|julgar)\b|\bchi{_}(?:valuta|corregge|confronta|giudica)\b"
)
CHINESE = (
    r"(?:忽略|无视|無視|忽视|忽視|不要理会|不要理會|不用管|别管|別管|忘记|忘記|忘掉|跳过|跳過|覆盖|覆蓋|绕过|繞過|"
    rf"不要遵守|不要遵循|放弃|放棄){_CJK_NEAR}(?:指令|指示|说明|說明|规则|規則|标准|標準|准则|準則|评分|評分|"
    r"要求|提示|规范|規範|设定|設定|内容|內容|一切)"
    r"|(?:选择|選擇|选|選|判定|投票给|投票給)[^。！？\n]{0,2}?(?:回答|答案|回复|回覆|输出|輸出)[ \t]*[AB12]"
    r"|(?:选择|選擇|选|選|挑选|挑選|偏好|优先选择|優先選擇|判定|判|投票给|投票給|支持)[^。！？\n]{0,4}?"
    r"(?:这个|這個|这一个|這一個|本|此|我的|这一|這一|该|該|这条|這條|这份|這份)(?:回答|答案|回复|回覆|响应|響應|"
    r"输出|輸出|答复|答覆)"
    r"|(?:回答|答案|回复|回覆|输出|輸出)[ \t]*[AB12][^。！？\n]{0,4}?"
    r"(?:更好|较好|較好|最好|胜出|勝出|获胜|獲勝|"
    r"更优|更優|更佳)"
    r"|(?:这个|這個|本|此|我的|这条|這條)(?:回答|答案|回复|回覆|输出|輸出|答复|答覆)[^。！？\n]{0,6}?"
    r"(?:最好|更好|最佳|最优|最優|胜出|勝出|获胜|獲勝|满分|滿分|更优秀|更優秀|第一名)"
    r"|(?:打|给|給|评|評)[^。！？\n]{0,8}?(?:满分|滿分|最高分)"
    r"|(?:开发者|開發者|开发|開發|调试|調試|管理员|管理員)模式"
    r"|另一(?:个|個|条|條|份)?(?:回答|答案|回复|回覆)[^。！？\n]{0,6}?(?:错误|錯誤|是错|是錯|不正确|不正確|更差|较差|較差)"
    r"|(?:致|给|給|亲爱的|親愛的|各位|尊敬的)[^。！？\n]{0,3}?(?:评审|評審|评估者|評估者|评估员|評估員|评委|評委|"
    r"裁判|评分者|評分者|评分员|評分員|审阅者|審閱者|阅卷|閱卷|标注员|標註員|评判者|評判者|审核员|審核員|评价者|評價者)"
    r"|(?:评审|評審|评估者|評估者|评估员|評估員|评委|評委|评分者|評分者|评分员|評分員|审阅者|審閱者|阅卷老师|"
    r"閱卷老師|标注员|標註員|评判者|評判者|评价者|評價者)(?:们|們)?(?:请注意|請注意|注意|[:：]|您好|你好)"
)
RUSSIAN = (
    rf"\b(?:игнориру\w*|проигнориру\w*|забудь\w*|не{_}обращай\w*{_}внимани\w*{_}на|не{_}следуй\w*|отбрось\w*|"
    rf"пренебреги\w*){_NEAR}(?:инструкци\w*|указани\w*|правил\w*|критери\w*|рубрик\w*|требовани\w*)"
    rf"|\b(?:выбери\w*|выберите|предпочти\w*|поставь\w*|отдай\w*|присуди\w*|оцени\w*|дай\w*){_NEAR}"
    rf"\b(?:этот|этому|этого|мой|моему|моего|данный|данному){_}(?:ответ\w*|вариант\w*)"
    rf"|\b(?:этот|мой|данный){_}ответ{_}(?:—{_}|-{_}|является{_}|лучше|самый|должен|заслуживает){_NEAR}"
    r"(?:лучш\w*|правильн\w*|победител\w*|выбран|верн\w*|превосходн\w*|высш\w*|максимальн\w*|побед\w*)"
    rf"|\bответ{_}[abаб12]{_}(?:лучше|является{_}лучшим|правильн\w*)"
    rf"|\b(?:выбери\w*|выберите|предпочти\w*){_}(?:ответ|вариант){_}[abаб12]\b"
    rf"|\bдруг\w*{_}ответ{_}(?:неверен|неправильн\w*|ошибоч\w*|хуже|содержит{_}ошибк\w*)"
    rf"|\b(?:высш\w*|максимальн\w*){_}(?:балл\w*|оценк\w*)"
    rf"|\b(?:примечание|заметка|сообщение|записка|обращение|к\s?сведению)\w*{_}(?:для|к){_}"
    r"(?:оценщик\w*|суд\w*|эксперт\w*|проверяющ\w*|рецензент\w*|экзаменатор\w*|аннотатор\w*|асессор\w*)"
    r"|(?:^|[\n.!?])[ \t]*(?:оценщик|судья|проверяющий|эксперт|рецензент|экзаменатор)\w*[ \t]*[,:]"
    r"|\b(?:судье|оценщику|оценщикам|проверяющему|проверяющим|рецензенту|экзаменатору|асессору)\b"
    rf"|\bуважаем\w*{_}(?:судья|судьи|оценщик\w*|проверяющ\w*|эксперт\w*|рецензент\w*)"
    rf"|\bтот,?{_}кто{_}(?:оценивает|проверяет|сравнивает|будет{_}оценивать)"
    rf"|\bрежим\w*{_}(?:разработчика|отладки|администратора)"
)
JAPANESE_KOREAN = (
    r"(?:以前|これまで|前|上記|上|先|元|最初|既存|全て|すべて)?の?(?:指示|命令|指令|ルール|規則|評価基準|基準|ガイドライン|"
    r"プロンプト|採点基準)(?:を|は)?(?:すべて|全て)?(?:無視|忘れ|破棄|無効)"
    r"|(?:この|本|私の|こちらの)(?:回答|答え|応答|出力|返答)(?:を|が|に|は|の(?:ほう|方)が)[^。！？\n]{0,12}?(?:選ん|選択|選べ|優先|最も優れ|"
    r"最良|最高|一番|ベスト|勝ち|勝者|満点|高く評価|優れて)"
    r"|(?:満点|最高点|最高評価)(?:を|に)(?:つけ|付け|与え|下さい|ください)"
    r"|(?:開発者|デベロッパー|デバッグ|管理者)モード"
    r"|もう一方の(?:回答|答え|応答)[^。！？\n]{0,10}?(?:間違|誤り|不正確|劣)"
    r"|回答[AB12][^。！？\n]{0,6}?(?:優れ|良い|勝ち|正しい)"
    r"|(?:評価者|採点者|審査員|審査者|レビュアー|レビューア|ジャッジ|判定者|評価担当者?|アノテーター)(?:へ|の(?:方|皆様|皆さん)|様|さん|各位)"
    r"|이전[^.\n]{0,10}(?:지시|지침|규칙|명령)[^.\n]{0,6}무시|(?:지시|지침|규칙)[^.\n]{0,4}무시"
    r"|이[ \t]*(?:답변|응답|대답)[을를]?[ \t]*(?:선택|골라)|평가자(?:님|에게|께)|채점자(?:님|에게|께)"
)
# Each language's rule runs only on text that looks written in it, for speed: for Latin-script
# languages, text holding one of its common words or letters (lowercase, with spaces); for the
# others, text holding a letter of its script (a character class).
_FRENCH_WORDS = (
    " les ",
    " la ",
    " le ",
    " cette ",
    " est ",
    " une ",
    " des ",
    " pour ",
    " vous ",
    " l'",
    " d'",
    " qui ",
    "é",
    "è",
    "ê",
    "à",
    "ç",
)
_GERMAN_WORDS = (
    "ä",
    "ö",
    "ü",
    "ß",
    " die ",
    " der ",
    " das ",
    " und ",
    " diese",
    " ist ",
    " sie ",
    " nicht ",
    " alle ",
    "anweisung",
    "antwort",
    "bewert",
    "prüf",
    "punktzahl",
    "richtlinie",
    "vorgabe",
    "modus",
)
_IBERIAN_ITALIAN_WORDS = (
    "ñ",
    "á",
    "í",
    "ó",
    "ú",
    "ã",
    "õ",
    "ç",
    "ê",
    "è",
    "ò",
    "ù",
    " el ",
    " los ",
    " las ",
    " esta ",
    " que ",
    " por ",
    " para ",
    " la ",
    " una ",
    " um ",
    " uma ",
    " os ",
    " questa ",
    " il ",
    " di ",
    " che ",
    " per ",
    "respuesta",
    "resposta",
    "istruzioni",
    "instrucciones",
    "instruções",
    "regole",
    "reglas",
    "regras",
    " le ",
    " tutte ",
    " todas ",
    "risposta",
    "modo",
)
# name, pattern, gate
LANGUAGES: tuple[tuple[str, str, tuple[str, ...] | str], ...] = (
    ("french", FRENCH, _FRENCH_WORDS),
    ("german", GERMAN, _GERMAN_WORDS),
    ("spanish_portuguese_italian", SPANISH_PORTUGUESE_ITALIAN, _IBERIAN_ITALIAN_WORDS),
    ("chinese", CHINESE, "[\u3400-\u9fff\uf900-\ufaff]"),
    ("russian", RUSSIAN, "[\u0400-\u04ff]"),
    ("japanese_korean", JAPANESE_KOREAN, "[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af]"),
)
